package notifier

import (
	"sync"
	"time"
)

// hintThrottle bounds how often one topic fans out from this node. The first
// bump after a quiet spell goes out at once (leading edge); bumps inside the
// window that follows collapse into one trailing fan-out of the newest
// version when the window ends, and that fan-out opens the next window. A
// topic bumped 1,000 times a second therefore costs each holder, and the
// node, at most one fan-out per window, and the last version always goes
// out. Throttling here, at the sender, spares every socket's mailbox and
// writer the work that a browser would only throw away.
//
// Timers: a topic holds one timer while it is busy (bumped within the last
// window) and none once a window passes without a bump, so idle topics cost
// nothing and a node with many quiet topics runs no timers for them.
type hintThrottle struct {
	window time.Duration
	fire   func(topic string, v, ts int64) // the fan-out
	onHeld func()                          // a bump folded into a pending trailing fan-out

	mu      sync.Mutex
	busy    map[string]*busyTopic
	stopped bool
}

type busyTopic struct {
	timer *time.Timer
	held  bool  // a bump arrived since this topic last fanned out
	v, ts int64 // the newest version held, and its publisher's timestamp
}

// newHintThrottle returns a throttle calling fire at most once per window per
// topic; a window of 0 passes every bump straight through.
func newHintThrottle(window time.Duration, fire func(topic string, v, ts int64), onHeld func()) *hintThrottle {
	return &hintThrottle{window: window, fire: fire, onHeld: onHeld, busy: make(map[string]*busyTopic)}
}

// bump announces version v of topic (published at ts, unix ms, 0 if
// unknown), now or at the end of its window.
func (t *hintThrottle) bump(topic string, v, ts int64) {
	if t.window <= 0 {
		t.fire(topic, v, ts)
		return
	}
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	if b := t.busy[topic]; b != nil {
		if !b.held || v > b.v {
			b.v, b.ts = v, ts
		}
		b.held = true
		t.mu.Unlock()
		t.onHeld()
		return
	}
	b := &busyTopic{}
	b.timer = time.AfterFunc(t.window, func() { t.windowEnd(topic, b) })
	t.busy[topic] = b
	t.mu.Unlock()
	// Outside the lock: a fan-out takes the hub's lock and posts to every
	// holder. If the trailing fan-out of a very short window overtook this
	// one, the hub drops the older version, so order needs no lock here.
	t.fire(topic, v, ts)
}

// windowEnd sends what the window held and opens the next window, or forgets
// the topic when the window passed quietly.
func (t *hintThrottle) windowEnd(topic string, b *busyTopic) {
	t.mu.Lock()
	if t.stopped || t.busy[topic] != b {
		t.mu.Unlock()
		return
	}
	if !b.held {
		delete(t.busy, topic)
		t.mu.Unlock()
		return
	}
	v, ts := b.v, b.ts
	b.held = false
	b.timer.Reset(t.window)
	t.mu.Unlock()
	t.fire(topic, v, ts)
}

// stop drops pending trailing fan-outs and stops every timer; later bumps
// are ignored. The node calls it once the broker has stopped delivering, on
// the way out. Safe to call twice.
func (t *hintThrottle) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for topic, b := range t.busy {
		b.timer.Stop()
		delete(t.busy, topic)
	}
}

// pending is the number of busy topics, each holding one timer.
func (t *hintThrottle) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.busy)
}

// fanOut hands one bump to every local holder of its topic: the throttle's
// output. The latency it records includes the time a bump was held.
func (s *Server) fanOut(topic string, v, ts int64) {
	if _, fresh := s.hub.fanOut(topic, v); !fresh {
		s.m.hintsCoalesced.Inc()
	}
	if ts > 0 {
		if lag := time.Since(time.UnixMilli(ts)); lag >= 0 && lag < time.Hour {
			s.m.latency.Observe(lag.Seconds())
		}
	}
}
