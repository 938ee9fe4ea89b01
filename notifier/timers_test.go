package notifier

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A topic whose last holder left stays wanted for the linger, then goes;
// a holder back within the linger keeps it without a wake.
func TestWantSetLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const linger = 5 * time.Second
		var mu sync.Mutex
		var woken []string
		w := newWantSet(linger, func(topic string) {
			mu.Lock()
			woken = append(woken, topic)
			mu.Unlock()
		})
		wanted := func(topic string) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			_, ok := w.want[topic]
			return ok
		}
		wakes := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(woken)
		}

		w.Subscribe("a")
		w.Subscribe("b")
		w.Unsubscribe("a")
		w.Unsubscribe("b")
		time.Sleep(linger - time.Millisecond)
		synctest.Wait()
		if !wanted("a") || !wanted("b") {
			t.Fatal("a topic went before its linger ended")
		}
		w.Subscribe("b") // a reload within the linger
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if wanted("a") || !wanted("b") {
			t.Fatalf("after the linger: a wanted %v (want false), b wanted %v (want true)", wanted("a"), wanted("b"))
		}
		if got := wakes(); !slices.Equal(got, []string{"a", "b", "a"}) {
			t.Fatalf("wakes = %v, want a and b when first wanted, a when it went", got)
		}
	})
}

// A grant lapses exactly at its expiry: the socket is told, the topic is
// no longer held, and a later grant arms the next expiry.
func TestGrantExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newWriterPool(1)
		defer pool.stop()
		conn := &fakeConn{}
		s := newSocket("s", conn, pool)
		var expired [][]string
		var onExpire func()
		onExpire = func() { expired = append(expired, s.expire(time.Now(), onExpire)) }
		start := time.Now()
		s.grant(map[string]int64{"short": 0}, start.Add(2*time.Second), onExpire)
		s.grant(map[string]int64{"long": 0}, start.Add(5*time.Second), onExpire)

		time.Sleep(2*time.Second - time.Nanosecond)
		synctest.Wait()
		if len(expired) != 0 || !s.holds("short") {
			t.Fatalf("expired %v before the grant's expiry", expired)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if len(expired) != 1 || !slices.Equal(expired[0], []string{"short"}) || s.holds("short") || !s.holds("long") {
			t.Fatalf("at 2s: expired %v, holds short %v, long %v", expired, s.holds("short"), s.holds("long"))
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if s.holds("long") || len(conn.named("expired")) == 0 {
			t.Fatalf("at 5s: still holds long, or the client was not told (%v)", conn.named("expired"))
		}
		s.close()
	})
}
