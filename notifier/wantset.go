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
//
// The hub calls Subscribe when a topic gains its first local holder and
// Unsubscribe when it loses its last, after releasing its lock, so the two
// calls of a page reload (the old socket leaves, the new one joins) can
// arrive in either order. The set therefore counts them: a topic is wanted
// while Subscribes outnumber Unsubscribes, whatever order they came in,
// and an Unsubscribe that overtook its Subscribe cannot drop the channel of
// a topic that still has a holder.
type wantSet struct {
	linger time.Duration
	// wake is told the topic whose wanted state changed; it must not block.
	wake func(topic string)

	mu sync.Mutex
	// want holds every wanted topic, and those lingering after their last
	// holder left.
	want map[string]*wanted
	// confirmed holds the topics whose SUBSCRIBE Redis has applied on a
	// live link; changed is closed (and replaced) whenever it changes.
	confirmed map[string]bool
	changed   chan struct{}
}

type wanted struct {
	// holders is Subscribes minus Unsubscribes: 1 while the hub holds the
	// topic, briefly 2 or 0 while a reload's calls cross.
	holders int
	linger  *time.Timer // running while holders == 0
}

func newWantSet(linger time.Duration, wake func(topic string)) wantSet {
	return wantSet{
		linger:    linger,
		wake:      wake,
		want:      make(map[string]*wanted),
		confirmed: make(map[string]bool),
		changed:   make(chan struct{}),
	}
}

func (w *wantSet) Subscribe(topic string) { w.count(topic, +1) }

func (w *wantSet) Unsubscribe(topic string) { w.count(topic, -1) }

// count applies one interest call. A topic that reaches 0 holders lingers,
// then goes; one below 0 had its Unsubscribe overtake its Subscribe and
// waits for it.
func (w *wantSet) count(topic string, delta int) {
	w.mu.Lock()
	e, ok := w.want[topic]
	if !ok {
		e = &wanted{}
		w.want[topic] = e
	}
	e.holders += delta
	switch {
	case e.holders > 0 && e.linger != nil:
		e.linger.Stop()
		e.linger = nil
	case e.holders == 0 && e.linger == nil:
		var timer *time.Timer
		timer = time.AfterFunc(w.linger, func() {
			w.mu.Lock()
			if w.want[topic] == e && e.linger == timer {
				delete(w.want, topic)
			}
			w.mu.Unlock()
			w.wake(topic)
		})
		e.linger = timer
	}
	w.mu.Unlock()
	if !ok {
		w.wake(topic)
	}
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
