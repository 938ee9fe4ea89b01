package notifier_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// soakConfig ends abandoned sessions quickly: a polling client that
// vanishes is only noticed when its ping is overdue.
func soakConfig() notifier.Config {
	cfg := testConfig()
	cfg.PingInterval = time.Second
	cfg.PingTimeout = 2 * time.Second
	cfg.SubscribeBurst = 1000
	return cfg
}

// 10,000 connect/disconnect cycles of five kinds leave sessions, sockets,
// goroutines and heap at their baseline.
func TestLeakSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak: the full suite (scripts/test) runs it")
	}
	n := startNode(t, soakConfig())
	host := strings.TrimPrefix(n.url, "http://")
	tok := token(t, "soak:*")

	// One cycle of each kind warms pools and lazily started goroutines.
	kinds := []struct {
		name string
		run  func() error
	}{
		{"websocket subscribe and close", func() error { return sioCycle(n, tok, "websocket") }},
		{"polling subscribe and close", func() error { return sioCycle(n, tok, "polling") }},
		{"aborted handshake", func() error { return abortedHandshake(host) }},
		{"websocket closed unread", func() error { return wsClosedUnread(n) }},
		{"polling session never upgraded", func() error { return pollingVanish(n) }},
	}
	for _, k := range kinds {
		if err := k.run(); err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
	}
	settle := func() (goroutines int, heap uint64) {
		waitFor(t, 30*time.Second, "no sessions left", func() bool { return n.srv.Sessions() == 0 && n.srv.Sockets() == 0 })
		http.DefaultClient.CloseIdleConnections()
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapInuse
	}
	baseG, baseHeap := settle()

	cycles := 10000
	if s := os.Getenv("PUSHPOLL_SOAK_CYCLES"); s != "" {
		fmt.Sscan(s, &cycles)
	}
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	start := time.Now()
	for i := 0; i < cycles; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := kinds[i%len(kinds)].run(); err != nil && failed.Add(1) <= 3 {
				t.Logf("cycle %d (%s): %v", i, kinds[i%len(kinds)].name, err)
			}
		}(i)
	}
	wg.Wait()
	if f := failed.Load(); f > int64(cycles)/100 {
		t.Fatalf("%d of %d cycles failed", f, cycles)
	}
	var g int
	var heap uint64
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, heap = settle()
		if g <= baseG+5 && heap <= baseHeap+16<<20 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d cycles in %v (%d failed); goroutines %d → %d; heap in use %d → %d KiB",
		cycles, time.Since(start).Round(time.Millisecond), failed.Load(), baseG, g, baseHeap>>10, heap>>10)
	if g > baseG+5 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d after the soak, baseline %d:\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if heap > baseHeap+16<<20 {
		t.Fatalf("heap in use grew from %d to %d KiB", baseHeap>>10, heap>>10)
	}
}

func sioCycle(n *node, tok, transport string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, n.url, sioclient.Options{Transport: transport, OnEvent: func(sioclient.Event) {}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.EmitAck(ctx, "subscribe", map[string]any{"token": tok, "topics": map[string]int64{fmt.Sprintf("soak:%d", rand.IntN(50)): 0}})
	return err
}

// abortedHandshake sends half an HTTP request and hangs up.
func abortedHandshake(host string) error {
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return err
	}
	_, err = io.WriteString(c, "GET /socket.io/?EIO=3&transport=websocket HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websoc")
	c.Close()
	return err
}

// wsClosedUnread upgrades and closes before reading the open packet.
func wsClosedUnread(n *node) error {
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.url, "http")+"/socket.io/?EIO=3&transport=websocket", nil)
	if err != nil {
		return err
	}
	return ws.Close()
}

// pollingVanish does the polling handshake and never comes back.
func pollingVanish(n *node) error {
	resp, err := http.Get(n.url + "/socket.io/?EIO=3&transport=polling")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("handshake %d", resp.StatusCode)
	}
	return nil
}

// A minute of everything at once under -race: connects, subscribes,
// unsubscribes, fan-out from the broker, flag flips, disconnects. The test
// is that it neither races nor hangs, and that nothing is left behind.
func TestChurnUnderRace(t *testing.T) {
	d := time.Minute
	if s := os.Getenv("PUSHPOLL_CHURN"); s != "" {
		if v, err := time.ParseDuration(s); err == nil {
			d = v
		}
	}
	rs, _ := redisNode(t)
	cfg := soakConfig()
	cfg.RedisURL = rs.URL
	cfg.AdminSecret = "admin-secret-0123456789"
	n := startNode(t, cfg)
	tok := token(t, "c:*")
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()

	var wg sync.WaitGroup
	var hints, cycles atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := sioclient.Dial(dctx, n.url, sioclient.Options{Transport: transports[w%2], OnEvent: func(e sioclient.Event) {
					if e.Name == "stale" {
						hints.Add(1)
					}
				}})
				if err == nil {
					for j := 0; j < 3 && ctx.Err() == nil; j++ {
						topic := fmt.Sprintf("c:%d", rand.IntN(20))
						_, _ = c.EmitAck(dctx, "subscribe", map[string]any{"token": tok, "topics": map[string]int64{topic: 0}})
						time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
						if rand.IntN(2) == 0 {
							_ = c.Emit("unsubscribe", []string{topic})
						}
					}
					_ = c.Close()
				}
				dcancel()
				cycles.Add(1)
			}
		}(w)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		v := 0
		for ctx.Err() == nil {
			v++
			var pipe strings.Builder
			for i := 0; i < 20; i++ {
				fmt.Fprintf(&pipe, "PUBLISH pushpoll:c:%d %d\n", i, v)
			}
			_, _ = rs.Pipe(pipe.String())
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		modes := notifier.Modes
		for ctx.Err() == nil {
			_ = n.srv.SetMode(modes[rand.IntN(3)])
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()
	waitFor(t, 30*time.Second, "sessions and sockets gone after the churn", func() bool {
		return n.srv.Sessions() == 0 && n.srv.Sockets() == 0
	})
	t.Logf("%v of churn: %d connection cycles, %d stale events delivered", d, cycles.Load(), hints.Load())
	if cycles.Load() == 0 || hints.Load() == 0 {
		t.Fatal("the churn did nothing")
	}
}
