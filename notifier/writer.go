package notifier

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"sync"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// writerPool empties the mailboxes of sockets that have something to send:
// a few long-lived writers (one per core) take sockets off one queue and
// write without ever waiting on a socket. A socket whose kernel buffer is
// full (or that is on long-polling, where a packet waits for the client's
// next GET) gets a goroutine of its own until its mailbox is empty, so a
// stuck client never holds a pool writer, and an idle socket costs no
// goroutine of ours.
//
// Starting a goroutine per woken socket instead (newproc, stack growth,
// exit) was a tenth of a fan-out's CPU.
type writerPool struct {
	writers int
	// sent is told how many hints the writers delivered, a batch at a
	// time rather than per socket: a shared counter bumped by every write
	// was a cache line the writers passed between cores. Nil: not counted.
	sent  func(hints int)
	mu    sync.Mutex
	wake  *sync.Cond
	queue []*socket // sockets whose mailbox has work; each at most once
	head  int       // queue[:head] is taken
	done  bool
}

// writerBatch is how many sockets a writer takes off the queue at once: few
// enough that the other writers get their share of a fan-out, enough that
// the queue's lock is taken once per batch rather than per socket.
const writerBatch = 32

func newWriterPool(writers int, sent func(hints int)) *writerPool {
	p := &writerPool{writers: max(writers, 1), sent: sent}
	p.wake = sync.NewCond(&p.mu)
	for range p.writers {
		go p.loop()
	}
	return p
}

// push queues s for a writer. It never blocks on a socket.
func (p *writerPool) push(s *socket) {
	p.mu.Lock()
	p.queue = append(p.queue, s)
	p.mu.Unlock()
	p.wake.Signal()
}

// pushAll queues sockets for the writers under one lock, and wakes as many
// writers as they keep busy: a fan-out's sockets one at a time meant a lock
// and a wake-up call per recipient, against the writers taking them off.
func (p *writerPool) pushAll(ss []*socket) {
	if len(ss) == 0 {
		return
	}
	p.mu.Lock()
	p.queue = append(p.queue, ss...)
	p.mu.Unlock()
	for range min((len(ss)+writerBatch-1)/writerBatch, p.writers) {
		p.wake.Signal()
	}
}

// take waits for queued sockets and moves up to len(batch) of them into
// batch; 0 once the pool is stopped.
func (p *writerPool) take(batch []*socket) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head == len(p.queue) {
		if p.done {
			return 0
		}
		clear(p.queue)
		p.queue, p.head = p.queue[:0], 0
		p.wake.Wait()
	}
	n := copy(batch, p.queue[p.head:])
	p.head += n
	if p.head >= writerBatch*32 && p.head > len(p.queue)/2 {
		// Under a steady load the queue may never run empty: move the
		// rest to the front instead of letting the array grow.
		rest := copy(p.queue, p.queue[p.head:])
		clear(p.queue[rest:])
		p.queue, p.head = p.queue[:rest], 0
	}
	return n
}

func (p *writerPool) loop() {
	var (
		batch [writerBatch]*socket
		w     writer
	)
	for {
		n := p.take(batch[:])
		if n == 0 {
			return
		}
		for _, s := range batch[:n] {
			s.flush(&w)
		}
		clear(batch[:n])
		p.count(&w)
	}
}

// count reports the hints w delivered since it last did.
func (p *writerPool) count(w *writer) {
	if w.delivered > 0 && p.sent != nil {
		p.sent(w.delivered)
	}
	w.delivered = 0
}

// stop ends the writers once the queue is empty.
func (p *writerPool) stop() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.wake.Broadcast()
}

// writer is what one writing goroutine reuses from socket to socket, so
// that a fan-out allocates nothing per recipient and an idle socket holds
// no buffer.
type writer struct {
	buf   []byte // frame under construction
	hints []hint
	out   outbox
	// delivered counts the hints sent or handed to their connection, for
	// the pool's count.
	delivered int
}

// outbox is one drained mailbox, sent in this order: expired, hints, mode,
// drain. Hints go before mode: after an outage the client should learn what
// it missed before it is told push can be trusted again.
type outbox struct {
	expired []string
	hints   []hint
	shared  *sharedHint // the hints' frame, when they are exactly its hint
	spread  int64       // ms over which the client should draw its poll; 0: none
	mode    *modeMsg
	drain   *drainMsg
	next    int // the next of the four to send
}

// sharedHint is one bump's single-topic hint, encoded and framed once for
// every recipient whose mailbox holds exactly that hint.
type sharedHint struct {
	topic  string
	v      int64
	spread int64 // the bump's spread window in ms (spread.go)
	frame  socketio.Frame
}

func newSharedHint(topic string, v, spread int64) *sharedHint {
	b := appendStale(socketio.StartFrame(nil), []hint{{topic, v}}, spread)
	return &sharedHint{topic: topic, v: v, spread: spread, frame: socketio.EndFrame(b)}
}

// flush runs on a pool writer: it sends the mailbox without waiting, and
// hands the socket to a goroutine of its own when the connection cannot
// take it all at once.
func (s *socket) flush(w *writer) {
	for s.take(w) {
		err := s.send(w, false)
		if errors.Is(err, socketio.ErrWouldBlock) {
			// The rest of this outbox outlives the writer's buffers.
			o := w.out
			o.hints = slices.Clone(o.hints)
			o.expired = slices.Clone(o.expired)
			go s.stalled(o)
			return
		}
		if err != nil {
			s.writeFailed(err)
		}
	}
}

// stalled finishes an outbox on a full connection, and then the mailbox,
// waiting on the socket as long as the write timeout allows: that delays
// no one else. A failed write closes the connection: the client polls and
// reconnects.
func (s *socket) stalled(o outbox) {
	w := writer{out: o}
	defer s.pool.count(&w)
	err := s.conn.Flush()
	if err == nil {
		err = s.send(&w, true)
	}
	if err != nil {
		s.writeFailed(err)
	}
	for s.take(&w) {
		if err := s.send(&w, true); err != nil {
			s.writeFailed(err)
		}
	}
}

// take drains the mailbox into w.out. When it is empty the writer's turn
// ends: it returns false and the next notice kicks a writer again.
func (s *socket) take(w *writer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (s.hints.len() == 0 && s.mode == nil && s.drain == nil && len(s.expired) == 0) {
		s.writing = false
		return false
	}
	o := &w.out
	o.shared = nil
	if sh := s.shared; sh != nil && s.hints.only(sh.topic, sh.v) {
		o.shared = sh
	}
	o.hints = s.hints.drain(w.hints[:0])
	w.hints = o.hints
	s.shared = nil
	o.spread, s.spread = s.spread, 0
	o.mode, o.drain, o.expired = s.mode, s.drain, s.expired
	s.mode, s.drain, s.expired = nil, nil, nil
	o.next = 0
	return true
}

// send writes w.out from where it stands. Without wait it returns
// ErrWouldBlock once the connection kept a packet for its Flush.
func (s *socket) send(w *writer, wait bool) error {
	o := &w.out
	for ; o.next < 4; o.next++ {
		var f socketio.Frame
		switch o.next {
		case 0:
			if len(o.expired) == 0 {
				continue
			}
			f = w.event("expired", expiredMsg{Topics: o.expired})
		case 1:
			if len(o.hints) == 0 {
				continue
			}
			if o.shared != nil {
				f = o.shared.frame
			} else {
				f = w.stale(o.hints, o.spread)
			}
		case 2:
			if o.mode == nil {
				continue
			}
			f = w.event("mode", *o.mode)
		case 3:
			if o.drain == nil {
				continue
			}
			f = w.event("drain", *o.drain)
		}
		var err error
		if wait {
			err = s.conn.Send(f)
		} else {
			err = s.conn.TrySend(f)
		}
		if err != nil && !errors.Is(err, socketio.ErrWouldBlock) {
			return err
		}
		// Sent, or taken by the connection to flush.
		if o.next == 1 {
			w.delivered += len(o.hints)
		}
		if err != nil {
			o.next++
			return err
		}
	}
	return nil
}

// maxKeptBuffer: a rare large batch is not worth keeping.
const maxKeptBuffer = 4096

func (w *writer) stale(hints []hint, spread int64) socketio.Frame {
	b := appendStale(socketio.StartFrame(w.buf), hints, spread)
	if cap(b) <= maxKeptBuffer {
		w.buf = b
	}
	return socketio.EndFrame(b)
}

func (w *writer) event(name string, arg any) socketio.Frame {
	b := appendEvent(socketio.StartFrame(w.buf), name, arg)
	if cap(b) <= maxKeptBuffer {
		w.buf = b
	}
	return socketio.EndFrame(b)
}

// appendStale encodes the socket.io EVENT packet 2["stale",{"t":v,…}] by
// hand, with a second argument {"spread":ms} when spread > 0 (DESIGN §2):
// it is the one packet sent at volume, and topics need no JSON escaping
// (ValidTopic's alphabet has no quote, backslash or control byte). Several
// topics are sorted, so a batch always reads the same.
func appendStale(buf []byte, hints []hint, spread int64) []byte {
	if len(hints) > 1 {
		slices.SortFunc(hints, func(a, b hint) int { return cmp.Compare(a.topic, b.topic) })
	}
	buf = append(buf, `2["stale",{`...)
	for i, h := range hints {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, h.topic...)
		buf = append(buf, `":`...)
		buf = strconv.AppendInt(buf, h.v, 10)
	}
	if spread > 0 {
		buf = append(buf, `},{"spread":`...)
		buf = strconv.AppendInt(buf, spread, 10)
	}
	return append(buf, "}]"...)
}
