package notifier

import (
	"context"
	"sync"
	"time"
)

// wantSet is a Redis broker's interest: the topics this node should be
// subscribed to, each with a linger after its last holder left, and the
// ones Redis has confirmed on a live link. Both Redis brokers embed it;
// they differ in what a change wakes (one subscriber, or one per shard).
type wantSet struct {
	linger time.Duration
	// wake is told the topic whose wanted state changed; it must not block.
	wake func(topic string)

	mu sync.Mutex
	// want maps a topic to its linger timer; nil means held.
	want map[string]*time.Timer
	// confirmed holds the topics whose SUBSCRIBE Redis has applied on a
	// live link; changed is closed (and replaced) whenever it changes.
	confirmed map[string]bool
	changed   chan struct{}
}

func newWantSet(linger time.Duration, wake func(topic string)) wantSet {
	return wantSet{
		linger:    linger,
		wake:      wake,
		want:      make(map[string]*time.Timer),
		confirmed: make(map[string]bool),
		changed:   make(chan struct{}),
	}
}

func (w *wantSet) Subscribe(topic string) {
	w.mu.Lock()
	t, ok := w.want[topic]
	if ok {
		if t != nil {
			t.Stop()
			w.want[topic] = nil
		}
		w.mu.Unlock()
		return
	}
	w.want[topic] = nil
	w.mu.Unlock()
	w.wake(topic)
}

func (w *wantSet) Unsubscribe(topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.want[topic]; !ok || t != nil {
		return
	}
	var timer *time.Timer
	timer = time.AfterFunc(w.linger, func() {
		w.mu.Lock()
		if w.want[topic] == timer {
			delete(w.want, topic)
		}
		w.mu.Unlock()
		w.wake(topic)
	})
	w.want[topic] = timer
}

// waitConfirmed returns once Redis has applied the SUBSCRIBE of every
// topic on a live link, so a bump published from then on reaches this
// node. It gives up when ctx ends; while live says the link is down it
// returns at once, since the resync after reconnecting covers whatever is
// missed.
func (w *wantSet) waitConfirmed(ctx context.Context, topics []string, live func() bool) error {
	for {
		if !live() {
			return nil
		}
		w.mu.Lock()
		all := true
		for _, t := range topics {
			if !w.confirmed[t] {
				all = false
				break
			}
		}
		changed := w.changed
		w.mu.Unlock()
		if all {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// confirm records topics as subscribed (or, with nil, forgets them all)
// and wakes waitConfirmed.
func (w *wantSet) confirm(topics []string) {
	w.mu.Lock()
	if topics == nil {
		clear(w.confirmed)
	}
	for _, t := range topics {
		if _, wanted := w.want[t]; wanted {
			w.confirmed[t] = true
		}
	}
	w.changedLocked()
	w.mu.Unlock()
}

// unconfirm forgets topics whose link was lost.
func (w *wantSet) unconfirm(topics []string) {
	w.mu.Lock()
	for _, t := range topics {
		delete(w.confirmed, t)
	}
	w.changedLocked()
	w.mu.Unlock()
}

func (w *wantSet) changedLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}
