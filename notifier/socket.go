package notifier

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// packetConn is what a socket writes its events through (socketio.Conn).
type packetConn interface {
	Send(packet []byte) error
	Close() error
}

// socket is one browser connection: the topics it holds and a mailbox of
// what it still has to be told.
//
// The mailbox never grows beyond one entry per held topic plus one pending
// mode, drain and expired notice: a burst of bumps overwrites pending
// entries instead of queueing them (DESIGN §4). At most one writer
// goroutine runs per socket, started when the mailbox gets work and ending
// when it is empty, so an idle socket costs no goroutine of ours and a slow
// one can only ever block its own writer.
type socket struct {
	id   string
	conn packetConn
	// cookie and authorization are the handshake's headers, forwarded to the
	// app in callback mode. They are never logged.
	cookie, authorization string

	// onWrite is told about each delivered hint batch, for metrics.
	onWrite func(hints map[string]int64)
	// limiter bounds subscribes; only the socket's reader goroutine uses it.
	limiter *bucket
	// reports bounds shadow reports; only the socket's reader goroutine,
	// which delivers them, uses it.
	reports *bucket
	// tabs is how many browser tabs share this connection, as the client
	// reports it (DESIGN §2 `tabs`); 1 until it says otherwise.
	tabs atomic.Int64

	mu sync.Mutex
	// topics maps each granted topic to the newest version this socket is
	// known to hold: what it subscribed with, raised by every hint sent.
	// A hint at or below it is a duplicate and costs nothing.
	topics  map[string]int64
	expires map[string]time.Time // topic -> when its grant lapses; absent = never
	expiry  *time.Timer          // fires at the earliest entry of expires

	hints map[string]int64 // pending stale hints, topic -> newest version
	// spare and frame belong to the writer: the drained mailbox map and the
	// frame buffer are reused, so a fan-out allocates nothing per socket.
	spare   map[string]int64
	frame   []byte
	mode    *modeMsg // pending mode notice (only the latest matters)
	drain   *drainMsg
	expired []string
	writing bool // a writer goroutine is running
	closed  bool
}

type modeMsg struct {
	Mode string `json:"mode"`
	Fast int64  `json:"fast"`
	Slow int64  `json:"slow"`
}

type drainMsg struct {
	Within int64 `json:"within"`
}

type expiredMsg struct {
	Topics []string `json:"topics"`
}

func newSocket(id string, conn packetConn) *socket {
	s := &socket{
		id:      id,
		conn:    conn,
		topics:  make(map[string]int64),
		expires: make(map[string]time.Time),
		hints:   make(map[string]int64),
	}
	s.tabs.Store(1)
	return s
}

// hint queues a stale hint for topic at version v unless the socket already
// has it. It reports whether anything was queued or raised, and never blocks.
func (s *socket) hint(topic string, v int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.topics[topic]
	if !ok || s.closed {
		return false
	}
	if v != 0 && v <= held {
		return false
	}
	if pending, ok := s.hints[topic]; ok && (v == 0 || v <= pending) {
		// Already told to poll for something at least as new: coalesced.
		return false
	}
	s.hints[topic] = v
	s.kick()
	return true
}

func (s *socket) setMode(m modeMsg)   { s.notice(func() { s.mode = &m }) }
func (s *socket) setDrain(d drainMsg) { s.notice(func() { s.drain = &d }) }

// notice queues a control notice (set, under s.mu) unless the socket is gone.
func (s *socket) notice(set func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	set()
	s.kick()
}

// kick starts the writer if it is not running. s.mu must be held.
func (s *socket) kick() {
	if s.writing {
		return
	}
	s.writing = true
	go s.write()
}

// write empties the mailbox, one batch at a time, until it stays empty.
// A write may block for as long as the transport's write deadline allows;
// that only delays this socket. A failed write closes the connection: the
// client polls and reconnects.
func (s *socket) write() {
	for {
		s.mu.Lock()
		if s.closed || (len(s.hints) == 0 && s.mode == nil && s.drain == nil && len(s.expired) == 0) {
			s.writing = false
			s.mu.Unlock()
			return
		}
		var hints map[string]int64
		if len(s.hints) > 0 {
			hints = s.hints
			if s.spare == nil {
				s.spare = make(map[string]int64)
			}
			s.hints, s.spare = s.spare, nil
			for t, v := range hints {
				if v > s.topics[t] {
					s.topics[t] = v
				}
			}
		}
		mode, drain, expired := s.mode, s.drain, s.expired
		s.mode, s.drain, s.expired = nil, nil, nil
		s.mu.Unlock()

		// Hints before mode: after an outage the client should learn what it
		// missed before it is told push can be trusted again.
		buf := s.frame[:0]
		var err error
		// The transport copies each packet before send returns, so one
		// buffer serves them all.
		if len(expired) > 0 && err == nil {
			buf = appendEvent(buf[:0], "expired", expiredMsg{Topics: expired})
			err = s.conn.Send(buf)
		}
		if hints != nil && err == nil {
			buf = appendStale(buf[:0], hints)
			if err = s.conn.Send(buf); err == nil && s.onWrite != nil {
				s.onWrite(hints)
			}
		}
		if mode != nil && err == nil {
			buf = appendEvent(buf[:0], "mode", *mode)
			err = s.conn.Send(buf)
		}
		if drain != nil && err == nil {
			buf = appendEvent(buf[:0], "drain", *drain)
			err = s.conn.Send(buf)
		}
		if cap(buf) <= 4096 { // a rare large batch is not worth keeping
			s.frame = buf
		}
		if hints != nil {
			clear(hints)
			s.mu.Lock()
			s.spare = hints
			s.mu.Unlock()
		}
		if err != nil {
			_ = s.conn.Close()
		}
	}
}

// appendStale encodes the socket.io EVENT packet 2["stale",{"t":v,…}] by
// hand: it is the one packet sent at volume, and topics need no JSON
// escaping (ValidTopic's alphabet has no quote, backslash or control byte).
func appendStale(buf []byte, hints map[string]int64) []byte {
	buf = append(buf, `2["stale",{`...)
	if len(hints) == 1 { // the common case needs no sorting
		for t, v := range hints {
			buf = append(buf, '"')
			buf = append(buf, t...)
			buf = append(buf, `":`...)
			buf = strconv.AppendInt(buf, v, 10)
		}
		return append(buf, "}]"...)
	}
	// Sorted, so a batch of several topics always reads the same.
	for i, t := range slices.Sorted(maps.Keys(hints)) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, t...)
		buf = append(buf, `":`...)
		buf = strconv.AppendInt(buf, hints[t], 10)
	}
	return append(buf, "}]"...)
}

// appendEvent encodes 2["name",arg] for the rare events.
func appendEvent(buf []byte, name string, arg any) []byte {
	b, _ := json.Marshal(arg) // plain structs of strings and integers
	buf = append(buf, `2["`...)
	buf = append(buf, name...)
	buf = append(buf, `",`...)
	buf = append(buf, b...)
	return append(buf, ']')
}

// grant records topics as held at the versions the client says it has, and
// when their grant lapses. It returns the topics that were new to the socket.
func (s *socket) grant(topics map[string]int64, expires time.Time, onExpire func()) (added []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	for t, v := range topics {
		held, ok := s.topics[t]
		if !ok {
			added = append(added, t)
		}
		if v > held || !ok {
			s.topics[t] = v
		}
		if expires.IsZero() {
			delete(s.expires, t)
		} else {
			s.expires[t] = expires
		}
	}
	s.armExpiry(onExpire)
	return added
}

// armExpiry schedules onExpire at the earliest grant expiry. s.mu must be held.
func (s *socket) armExpiry(onExpire func()) {
	var first time.Time
	for _, e := range s.expires {
		if first.IsZero() || e.Before(first) {
			first = e
		}
	}
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	if !first.IsZero() && onExpire != nil {
		s.expiry = time.AfterFunc(time.Until(first), onExpire)
	}
}

// expire drops every topic whose grant lapsed by now, queues an `expired`
// notice for them, and returns them so the hub can forget them too.
func (s *socket) expire(now time.Time, onExpire func()) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	var gone []string
	for t, e := range s.expires {
		if !e.After(now) {
			gone = append(gone, t)
			delete(s.expires, t)
			delete(s.topics, t)
			delete(s.hints, t)
		}
	}
	if len(gone) > 0 {
		s.expired = append(s.expired, gone...)
		s.kick()
	}
	s.armExpiry(onExpire)
	return gone
}

// drop forgets topics (an unsubscribe) and returns those that were held.
func (s *socket) drop(topics []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var held []string
	for _, t := range topics {
		if _, ok := s.topics[t]; ok {
			held = append(held, t)
			delete(s.topics, t)
			delete(s.hints, t)
			delete(s.expires, t)
		}
	}
	return held
}

// close marks the socket gone and returns every topic it held.
func (s *socket) close() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	held := make([]string, 0, len(s.topics))
	for t := range s.topics {
		held = append(held, t)
	}
	s.hints = nil
	return held
}

// held returns the socket's topics and the versions it is known to hold.
func (s *socket) held() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.topics))
	for t, v := range s.topics {
		out[t] = v
	}
	return out
}

// holds reports whether the socket holds topic.
func (s *socket) holds(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.topics[topic]
	return ok
}

func (s *socket) topicCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.topics)
}

// bucket is a token bucket: burst tokens, one more every interval.
type bucket struct {
	tokens, burst float64
	every         time.Duration
	last          time.Time
}

func newBucket(burst int, every time.Duration) *bucket {
	return &bucket{tokens: float64(burst), burst: float64(burst), every: every}
}

func (b *bucket) allow(now time.Time) bool {
	if !b.last.IsZero() && b.every > 0 {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.every))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
