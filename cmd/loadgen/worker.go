package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// worker holds one process's share of the sockets and measures what they
// receive.
//
// Per socket there is one goroutine, sioclient's reader, which also runs
// onEvent. Dials go through a bounded pool; a single supervisor scans for
// dead connections instead of a goroutine per socket waiting on Done.
//
// A hint's version is the publish time in unix microseconds (the publisher
// picks versions that way), so a socket's receive latency is its read time
// minus the version it read, with no lookup of what was published when.
type worker struct {
	cfg   workerConfig
	start time.Time

	outMu sync.Mutex
	out   *json.Encoder

	tids    map[string]int32 // topic → index into holders
	topics  []string
	holders []int // sockets of this worker holding each topic
	socks   []*sock
	dialQ   chan *sock

	agg    hist
	bumpMu sync.RWMutex
	bumps  map[int64]*hist // per version, when cfg.PerBump

	// news logs every hint that raised a socket's version, when not
	// cfg.PerBump: coalescing lets one hint carry the news of several
	// bumps, which final counts against what was published.
	newsMu sync.Mutex
	news   []newsHint

	delivered, dup, zero atomic.Int64
	up, failed           atomic.Int64
	reconnects, dialErrs atomic.Int64
	firstDownUS          atomic.Int64
	lastUpUS             atomic.Int64
	firstErr             atomic.Pointer[string]

	ctx    context.Context
	cancel context.CancelFunc
}

// maxTrackedBumps bounds the per-version histograms: a fan-out run has a
// handful in flight; more means the coordinator stopped asking for them.
const maxTrackedBumps = 256

// subscribeTimeout bounds the wait for a subscribe ack. A node busy with a
// reconnect storm answers late; this only stops a lost ack from wedging a
// dialer.
const subscribeTimeout = 30 * time.Second

// superviseEvery is how often dead connections are looked for; a reconnect
// starts at most this much later than a goroutine per socket would notice.
const superviseEvery = 50 * time.Millisecond

// newsHint is one hint that raised a socket's version of a topic from prev
// to v, read at atUS.
type newsHint struct {
	tid         int32
	prev, v, at int64
}

type sock struct {
	w         *worker
	j         int // global index
	src       string
	transport string
	slots     []slot

	cl    atomic.Pointer[sioclient.Client] // while up
	state atomic.Int32
	// drainMS is the reconnect delay a drain event asked for, or 0.
	drainMS atomic.Int64
	// attempts counts failed dials since the last success. Only the
	// goroutine handling the socket at the time touches it: a dialer, or
	// the supervisor once it has seen the connection end.
	attempts int
	wasUp    bool // dialer only
}

const (
	stWaiting int32 = iota // queued or backing off
	stDialing
	stUp
	stFailed // gave up (no --reconnect)
)

type slot struct {
	tid int32
	got atomic.Int64 // newest version received
}

// runWorker serves commands from in until quit or EOF.
func runWorker(in io.Reader, out io.Writer, stderr io.Writer) error {
	w := &worker{out: json.NewEncoder(out), bumps: map[int64]*hist{}, start: time.Now()}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	defer w.cancel()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var c command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			w.send(reply{Type: "error", Error: "bad command: " + err.Error()})
			continue
		}
		switch c.Cmd {
		case "start":
			if err := w.begin(*c.Config); err != nil {
				w.send(reply{Type: "error", Error: err.Error()})
				return err
			}
		case "bump":
			go w.reportBump(c)
		case "stats":
			w.send(w.stats("stats"))
		case "final":
			w.send(w.final(c.Versions, c.Published))
		case "await":
			go w.await(time.Duration(c.WaitMS)*time.Millisecond, c.Drop)
		case "quit":
			w.closeAll()
			w.send(reply{Type: "bye"})
			return nil
		default:
			w.send(reply{Type: "error", Error: "unknown command " + c.Cmd})
		}
	}
	w.closeAll()
	return sc.Err()
}

func (w *worker) send(r reply) {
	r.Worker = w.cfg.ID
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_ = w.out.Encode(r)
}

func (w *worker) begin(cfg workerConfig) error {
	w.cfg = cfg
	base, err := netip.ParseAddr(cfg.SrcBase)
	if err != nil {
		return fmt.Errorf("--src-base: %w", err)
	}
	w.tids = map[string]int32{}
	w.socks = make([]*sock, cfg.N)
	w.dialQ = make(chan *sock, cfg.N)
	for i := range cfg.N {
		j := cfg.First + i
		src, err := sourceAddr(base, cfg.PerIP, j)
		if err != nil {
			return err
		}
		s := &sock{w: w, j: j, src: src.String(), transport: "websocket"}
		if int(float64(j+1)*cfg.Polling) > int(float64(j)*cfg.Polling) {
			s.transport = "polling"
		}
		for _, t := range topicsOf(cfg.Run, cfg.Groups, j) {
			tid, ok := w.tids[t]
			if !ok {
				tid = int32(len(w.topics))
				w.tids[t] = tid
				w.topics = append(w.topics, t)
				w.holders = append(w.holders, 0)
			}
			w.holders[tid]++
			s.slots = append(s.slots, slot{tid: tid})
		}
		w.socks[i] = s
		w.dialQ <- s
	}
	for range max(1, cfg.DialConcurrency) {
		go w.dialer()
	}
	go w.supervise()
	go w.progress()
	return nil
}

func (w *worker) dialer() {
	for {
		select {
		case <-w.ctx.Done():
			return
		case s := <-w.dialQ:
			s.state.Store(stDialing)
			err := s.connect()
			if err == nil {
				continue
			}
			w.dialErrs.Add(1)
			msg := err.Error()
			w.firstErr.CompareAndSwap(nil, &msg)
			s.attempts++
			// Without --reconnect, a first dial still gets three tries: a
			// burst of connects can overflow a listen backlog.
			if !w.cfg.Reconnect && s.attempts >= 3 {
				s.state.Store(stFailed)
				w.failed.Add(1)
				continue
			}
			s.state.Store(stWaiting)
			s.retryAfter(w.backoff(s.attempts))
		}
	}
}

// backoff follows socket.io-client 2 (backo2): min·2^attempt capped at max,
// randomized by ±jitter.
func (w *worker) backoff(attempt int) time.Duration {
	ms := float64(w.cfg.ReconnectMinMS)
	for range min(attempt, 30) {
		ms *= 2
	}
	ms = min(ms, float64(w.cfg.ReconnectMaxMS))
	dev := ms * w.cfg.Jitter * rand.Float64()
	if rand.IntN(2) == 0 {
		ms -= dev
	} else {
		ms += dev
	}
	return time.Duration(ms) * time.Millisecond
}

// retryAfter queues s for a dialer after d. The timer runs no goroutine
// while it waits.
func (s *sock) retryAfter(d time.Duration) {
	time.AfterFunc(d, func() {
		if s.w.ctx.Err() == nil {
			s.w.dialQ <- s // capacity N: never blocks
		}
	})
}

var errDenied = errors.New("subscribe not granted")

func (s *sock) connect() error {
	w := s.w
	urls := w.cfg.URLs
	start := s.j % len(urls)
	if s.wasUp {
		// A reconnect goes wherever a load balancer would send it.
		urls = w.cfg.RetryURLs
		start = rand.IntN(len(urls))
	}
	opts := sioclient.Options{
		Transport:        s.transport,
		EIO:              w.cfg.EIO,
		LocalAddr:        s.src,
		OnEvent:          s.onEvent,
		HandshakeTimeout: time.Duration(w.cfg.HandshakeTimeoutMS) * time.Millisecond,
	}
	var cl *sioclient.Client
	var err error
	for k := range urls {
		cl, err = sioclient.Dial(w.ctx, urls[(start+k)%len(urls)], opts)
		// A refused connection is a dead node: a load balancer would try
		// the next one at once rather than fail the client.
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if err != nil {
		return err
	}
	topics := make(map[string]int64, len(s.slots))
	for i := range s.slots {
		topics[w.topics[s.slots[i].tid]] = s.slots[i].got.Load()
	}
	ctx, cancel := context.WithTimeout(w.ctx, subscribeTimeout)
	defer cancel()
	args, err := cl.EmitAck(ctx, "subscribe", map[string]any{"token": w.cfg.Token, "topics": topics})
	if err == nil {
		err = checkAck(args, len(s.slots))
	}
	if err != nil {
		_ = cl.Close()
		return fmt.Errorf("subscribe: %w", err)
	}
	// Before the socket shows as up: from then on the supervisor may hand
	// it to another dialer.
	s.attempts = 0
	s.wasUp = true
	s.cl.Store(cl)
	s.state.Store(stUp)
	w.up.Add(1)
	storeMax(&w.lastUpUS, time.Now().UnixMicro())
	return nil
}

func checkAck(args []json.RawMessage, want int) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: empty ack", errDenied)
	}
	var ack struct {
		Granted []string          `json:"granted"`
		Denied  map[string]string `json:"denied"`
	}
	if err := json.Unmarshal(args[0], &ack); err != nil {
		return fmt.Errorf("%w: ack %s", errDenied, args[0])
	}
	if len(ack.Granted) != want {
		return fmt.Errorf("%w: granted %d of %d, denied %v", errDenied, len(ack.Granted), want, ack.Denied)
	}
	return nil
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// supervise notices connections that ended and schedules their reconnect.
func (w *worker) supervise() {
	t := time.NewTicker(superviseEvery)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range w.socks {
			if s.state.Load() != stUp {
				continue
			}
			cl := s.cl.Load()
			select {
			case <-cl.Done():
			default:
				continue
			}
			s.cl.Store(nil)
			w.up.Add(-1)
			w.firstDownUS.CompareAndSwap(0, time.Now().UnixMicro())
			if !w.cfg.Reconnect {
				s.state.Store(stFailed)
				w.failed.Add(1)
				continue
			}
			w.reconnects.Add(1)
			s.state.Store(stWaiting)
			d := w.backoff(0)
			if ms := s.drainMS.Swap(0); ms > 0 {
				d = time.Duration(ms) * time.Millisecond
			}
			s.retryAfter(d)
		}
	}
}

// progress reports the connect phase once a second, then "ready" when every
// socket is up or has failed.
func (w *worker) progress() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		r := w.stats("progress")
		if r.Up+r.Failed >= w.cfg.N {
			r.Type = "ready"
			w.send(r)
			return
		}
		w.send(r)
	}
}

func (w *worker) stats(typ string) reply {
	r := reply{
		Type:       typ,
		Sockets:    w.cfg.N,
		Up:         int(w.up.Load()),
		Failed:     int(w.failed.Load()),
		Reconnects: w.reconnects.Load(),
		DialErrors: w.dialErrs.Load(),
		Delivered:  w.delivered.Load(),
		Dup:        w.dup.Load(),
		Zero:       w.zero.Load(),
		PID:        os.Getpid(),
	}
	if p := w.firstErr.Load(); p != nil {
		r.FirstErr = *p
	}
	if typ == "stats" {
		h := w.agg.sparse()
		r.Hist = &h
	}
	return r
}

// onEvent runs on the socket's reader goroutine.
func (s *sock) onEvent(ev sioclient.Event) {
	switch ev.Name {
	case "stale":
		if len(ev.Args) > 0 {
			s.onStale(ev.Args[0], ev.At.UnixMicro())
		}
	case "drain":
		var d struct {
			Within int64 `json:"within"`
		}
		if len(ev.Args) > 0 && json.Unmarshal(ev.Args[0], &d) == nil && d.Within > 0 {
			s.drainMS.Store(1 + rand.Int64N(d.Within))
		}
		if cl := s.cl.Load(); cl != nil {
			_ = cl.Close() // from OnEvent: returns without waiting
		}
	}
}

// onStale records one {"topic":v,...} object. It is on the hot path of
// every fan-out, so it scans the JSON in place and allocates nothing.
func (s *sock) onStale(obj []byte, atUS int64) {
	w := s.w
	rest := obj
	for {
		topic, v, r, ok := nextPair(rest)
		if !ok {
			return
		}
		rest = r
		tid, known := w.tids[string(topic)]
		if !known {
			continue
		}
		for i := range s.slots {
			sl := &s.slots[i]
			if sl.tid != tid {
				continue
			}
			switch prev := sl.got.Load(); {
			case v == 0:
				w.zero.Add(1)
			case v <= prev:
				w.dup.Add(1)
			default:
				sl.got.Store(v)
				w.delivered.Add(1)
				lat := atUS - v
				w.agg.record(lat)
				if w.cfg.PerBump {
					if h := w.bumpHist(v); h != nil {
						h.record(lat)
					}
				} else {
					w.newsMu.Lock()
					w.news = append(w.news, newsHint{tid: tid, prev: prev, v: v, at: atUS})
					w.newsMu.Unlock()
				}
			}
		}
	}
}

// nextPair scans the next "key":integer member of a flat JSON object (the
// opening brace is skipped as a separator). Keys with escapes are returned
// raw: topics never need them.
func nextPair(b []byte) (key []byte, v int64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] != '"' {
		if b[i] == '}' {
			return nil, 0, nil, false
		}
		i++
	}
	if i == len(b) {
		return nil, 0, nil, false
	}
	i++
	k0 := i
	for i < len(b) && b[i] != '"' {
		if b[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(b) {
		return nil, 0, nil, false
	}
	key = b[k0:i]
	i++
	for i < len(b) && (b[i] == ':' || b[i] == ' ') {
		i++
	}
	n0 := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	if i == n0 {
		return nil, 0, nil, false
	}
	return key, v, b[i:], true
}

func (w *worker) bumpHist(v int64) *hist {
	w.bumpMu.RLock()
	h := w.bumps[v]
	w.bumpMu.RUnlock()
	if h != nil {
		return h
	}
	w.bumpMu.Lock()
	defer w.bumpMu.Unlock()
	if h = w.bumps[v]; h == nil && len(w.bumps) < maxTrackedBumps {
		h = new(hist)
		w.bumps[v] = h
	}
	return h
}

// reportBump waits until every local holder of c.Topic has c.V (or the wait
// is over) and reports who got it and how fast.
func (w *worker) reportBump(c command) {
	tid, ok := w.tids[c.Topic]
	r := reply{Type: "bump", Topic: c.Topic, V: c.V}
	if ok {
		r.Holders = w.holders[tid]
		deadline := time.Now().Add(time.Duration(c.WaitMS) * time.Millisecond)
		for {
			r.Reached = w.reached(tid, c.V)
			if r.Reached >= r.Holders || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.Missing = r.Holders - r.Reached
	}
	w.bumpMu.Lock()
	h := w.bumps[c.V]
	delete(w.bumps, c.V)
	w.bumpMu.Unlock()
	if h != nil {
		s := h.sparse()
		r.Hist = &s
	}
	w.send(r)
}

func (w *worker) reached(tid int32, v int64) int {
	n := 0
	for _, s := range w.socks {
		for i := range s.slots {
			if s.slots[i].tid == tid && s.slots[i].got.Load() >= v {
				n++
			}
		}
	}
	return n
}

// final counts sockets behind the last published version of a topic and,
// given what was published, the bumps whose news reached their holders.
func (w *worker) final(versions map[string]int64, published map[string][]int64) reply {
	r := w.stats("final")
	for _, s := range w.socks {
		for i := range s.slots {
			if want := versions[w.topics[s.slots[i].tid]]; s.slots[i].got.Load() < want {
				r.Lost++
			}
		}
	}
	if published != nil {
		w.newsMu.Lock()
		r.News, r.NewsHist = newsOf(w.news, w.topics, published)
		w.newsMu.Unlock()
	}
	return r
}

// newsOf counts, for hints that raised a socket's version from prev to v,
// the bumps published in (prev, v]: each of them reached that socket with
// the hint, as stale as the time from its publish to the hint's arrival.
func newsOf(hints []newsHint, topics []string, published map[string][]int64) (int64, *sparse) {
	var n int64
	var h hist
	for _, x := range hints {
		vs := published[topics[x.tid]]
		i, _ := slices.BinarySearch(vs, x.prev+1)
		for ; i < len(vs) && vs[i] <= x.v; i++ {
			h.record(x.at - vs[i])
			n++
		}
	}
	s := h.sparse()
	return n, &s
}

// await reports when every socket that has not failed is up again, after
// a first drop when drop is set.
func (w *worker) await(wait time.Duration, drop bool) {
	deadline := time.Now().Add(wait)
	for drop && w.firstDownUS.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if int(w.up.Load()+w.failed.Load()) >= w.cfg.N {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := w.stats("await")
	r.FirstDownUS = w.firstDownUS.Load()
	r.LastUpUS = w.lastUpUS.Load()
	w.send(r)
}

// closeAll closes every socket, 64 at a time, bounded by 10 s: a clean
// close lets the server free its session at once.
func (w *worker) closeAll() {
	w.cancel()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for _, s := range w.socks {
			cl := s.cl.Load()
			if cl == nil {
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				_ = cl.Close()
			})
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}
