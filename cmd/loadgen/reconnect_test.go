package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	socketio "github.com/googollee/go-socket.io"
)

// TestReconnectsDoNotWaitForDialers holds every subscribe after the server
// dropped its sockets until all of them are in flight at once: browsers
// reconnect each on its own schedule, so a storm's reconnects must not
// queue behind the dial pool (one dialer here), or the storm measures the
// pool's latency instead of the node.
func TestReconnectsDoNotWaitForDialers(t *testing.T) {
	const n = 6
	var (
		mu        sync.Mutex
		conns     []socketio.Conn
		armed     atomic.Bool
		inFlight  atomic.Int32
		peak      atomic.Int32
		allInOnce sync.Once
	)
	allIn := make(chan struct{})
	srv := socketio.NewServer(nil)
	srv.OnConnect("/", func(c socketio.Conn) error {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return nil
	})
	srv.OnError("/", func(socketio.Conn, error) {})
	srv.OnDisconnect("/", func(socketio.Conn, string) {})
	srv.OnEvent("/", "subscribe", func(c socketio.Conn, req testSubscribe) map[string]any {
		if armed.Load() {
			cur := inFlight.Add(1)
			storeMax32(&peak, cur)
			if cur == n {
				allInOnce.Do(func() { close(allIn) })
			}
			select {
			case <-allIn:
			case <-time.After(5 * time.Second):
			}
			inFlight.Add(-1)
		}
		granted := []string{}
		for topic := range req.Topics {
			granted = append(granted, topic)
		}
		return map[string]any{"granted": granted, "denied": map[string]string{}}
	})
	go func() { _ = srv.Serve() }()
	hs := httptest.NewServer(srv)
	defer func() {
		hs.Close()
		_ = srv.Close()
	}()

	w := &worker{out: json.NewEncoder(io.Discard), bumps: map[int64]*hist{}, start: time.Now()}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	defer w.closeAll()
	err := w.begin(workerConfig{
		URLs: []string{hs.URL}, RetryURLs: []string{hs.URL}, N: n, Run: "r",
		Groups: []group{{Name: "g", Count: 1, Size: n}}, SrcBase: "127.0.0.2", PerIP: 1000, EIO: 3,
		Token: "t", DialConcurrency: 1, HandshakeTimeoutMS: 5000,
		Reconnect: true, ReconnectMinMS: 1, ReconnectMaxMS: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitUp := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for w.up.Load() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d sockets up", what, w.up.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitUp("first connects")

	armed.Store(true)
	mu.Lock()
	for _, c := range conns {
		_ = c.Close()
	}
	mu.Unlock()
	select {
	case <-allIn:
	case <-time.After(10 * time.Second):
		t.Fatalf("at most %d of %d reconnects subscribing at once, want all: reconnects queue for a dialer", peak.Load(), n)
	}
	waitUp("reconnects")
	if got := w.reconnects.Load(); got != n {
		t.Errorf("%d reconnects, want %d", got, n)
	}
}

func storeMax32(a *atomic.Int32, v int32) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}
