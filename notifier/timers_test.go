package notifier

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
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
		pool := newWriterPool(1, nil)
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

// memPeers is a peer store in memory that counts its lookups.
type memPeers struct {
	mu      sync.Mutex
	urls    map[string]string
	lookups int
}

func (m *memPeers) advertise(_ context.Context, node, url string, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.urls[node] = url
	return nil
}

func (m *memPeers) withdraw(_ context.Context, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.urls, node)
	return nil
}

func (m *memPeers) lookup(_ context.Context, node string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	u, ok := m.urls[node]
	if !ok {
		return "", socketio.ErrUnknownPeer
	}
	return u, nil
}

// A found peer is cached for peerCacheFor, so a burst of forwarded polls
// costs one read, and read again after it, so a moved node is found.
func TestPeerCacheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &memPeers{urls: map[string]string{}}
		p := newPeers(store, socketio.NewNodeID(), slog.New(slog.DiscardHandler))
		other := socketio.NewNodeID()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(store.advertise(t.Context(), other, "http://10.0.0.7:8080", peerTTL))
		for range 5 {
			u, err := p.lookup(t.Context(), other)
			must(err)
			if u != "http://10.0.0.7:8080" {
				t.Fatalf("lookup = %q", u)
			}
		}
		if store.lookups != 1 {
			t.Fatalf("%d store reads for 5 lookups within the cache time, want 1", store.lookups)
		}
		must(store.advertise(t.Context(), other, "http://10.0.0.8:8080", peerTTL))
		time.Sleep(peerCacheFor - time.Nanosecond)
		if u, _ := p.lookup(t.Context(), other); u != "http://10.0.0.7:8080" {
			t.Fatalf("lookup = %q before the cache time ended, want the cached one", u)
		}
		time.Sleep(time.Nanosecond)
		if u, _ := p.lookup(t.Context(), other); u != "http://10.0.0.8:8080" {
			t.Fatalf("lookup = %q after the cache time, want the moved node", u)
		}
		must(store.withdraw(t.Context(), other))
		time.Sleep(peerCacheFor)
		if _, err := p.lookup(t.Context(), other); !errors.Is(err, socketio.ErrUnknownPeer) {
			t.Fatalf("lookup of a withdrawn node = %v, want ErrUnknownPeer", err)
		}
	})
}
