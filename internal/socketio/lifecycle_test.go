package socketio

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/googollee/go-socket.io/engineio/frame"
	"github.com/googollee/go-socket.io/engineio/packet"
	"github.com/gorilla/websocket"
)

func TestSessionIDs(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 400 * time.Millisecond
	node := NewNodeID()
	h := newHarness(t, func(c *Config) { c.PingInterval, c.PingTimeout, c.NodeID = interval, timeout, node })
	const n = 1000
	seen := make(map[string]bool, n)
	ones := 0
	for range n {
		sid := h.handshake(t).sid
		if seen[sid] {
			t.Fatalf("sid %q repeated", sid)
		}
		seen[sid] = true
		if !strings.HasPrefix(sid, node) {
			t.Fatalf("sid %q does not start with the node id %q", sid, node)
		}
		b, err := base64.RawURLEncoding.DecodeString(sid[len(node):])
		if err != nil || len(b) != 16 {
			t.Fatalf("sid %q is not the node id and 128 bits of URL-safe base64", sid)
		}
		for _, x := range b {
			ones += bits.OnesCount8(x)
		}
	}
	// 128,000 random bits: the count of ones is 64,000 give or take a few
	// hundred; a counter or a weak source lands far off.
	if ones < 62000 || ones > 66000 {
		t.Errorf("%d one bits in %d sids, want about 64000", ones, n)
	}
	// All of them vanished after the handshake: they must all go away.
	eventually(t, 20*timeout, "vanished sessions removed", func() bool { return h.srv.Count() == 0 })
}

// TestGoroutinesSettle: 200 connect/close cycles on each transport leave no
// goroutine behind.
func TestGoroutinesSettle(t *testing.T) {
	cases := []struct {
		name  string
		cycle func(t *testing.T, h *harness)
	}{
		{"websocket", func(t *testing.T, h *harness) {
			c := h.connectWS(t)
			c.echo("x")
			_ = c.ws.Close()
		}},
		{"polling", func(t *testing.T, h *harness) {
			c := h.connectPolling(t)
			c.echo("x")
			if status, body := c.post("1"); status != http.StatusOK {
				t.Fatalf("close: %d %q", status, body)
			}
		}},
		{"websocket hostile", func(t *testing.T, h *harness) {
			c := h.connectWS(t)
			c.send(`4518446744073709551615-["x","a"]`)
			c.expectClosed()
			_ = c.ws.Close()
		}},
		{"polling hostile", func(t *testing.T, h *harness) {
			c := h.connectPolling(t)
			c.post(`4518446744073709551615-["x","a"]`)
		}},
		{"EIO 4 websocket", func(t *testing.T, h *harness) {
			c := h.connectWS4(t)
			c.echo("x")
			_ = c.ws.Close()
		}},
		{"EIO 4 polling", func(t *testing.T, h *harness) {
			c := h.connectPolling4(t)
			c.echo("x")
			if status, body := c.post("1"); status != http.StatusOK {
				t.Fatalf("close: %d %q", status, body)
			}
		}},
		{"EIO 4 upgrade", func(t *testing.T, h *harness) {
			p := h.connectPolling4(t)
			c := h.mustDialWS(t, "EIO=4&transport=websocket&sid="+p.sid)
			c.send("2probe")
			c.read()
			c.send("5")
			c.echo("x")
			_ = c.ws.Close()
		}},
		{"EIO 4 hostile", func(t *testing.T, h *harness) {
			c := h.connectPolling4(t)
			c.post("abc")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			settle := func() {
				h.hc.CloseIdleConnections()
				eventually(t, 10*time.Second, "sessions gone", func() bool { return h.srv.Count() == 0 })
			}
			// Warm up once so lazily started goroutines are in the baseline.
			tc.cycle(t, h)
			settle()
			base := runtime.NumGoroutine()
			for range 200 {
				tc.cycle(t, h)
			}
			settle()
			var now int
			deadline := time.Now().Add(10 * time.Second)
			for now = runtime.NumGoroutine(); now > base && time.Now().Before(deadline); now = runtime.NumGoroutine() {
				h.hc.CloseIdleConnections()
				time.Sleep(10 * time.Millisecond)
			}
			if now > base {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines after 200 cycles, baseline %d:\n%s", now, base, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

func TestCloseAll(t *testing.T) {
	h := newHarness(t, nil)
	ws := h.connectWS(t)
	h.connectPolling(t)
	// A half-done upgrade (probe connection open, no upgrade packet yet).
	p := h.connectPolling(t)
	probe, _, err := h.dialWS("EIO=3&transport=websocket&sid="+p.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	eventually(t, 5*time.Second, "sessions counted", func() bool { return h.srv.Count() == 3 })
	// The probe is tracked once the server's Upgrade returns, which is
	// after gorilla wrote the 101 the client has already read: wait for the
	// transports to hold all four connections, not for the client.
	eventually(t, 5*time.Second, "four connections tracked", func() bool { return h.tracked() == 4 })

	if n := h.srv.CloseAll(); n != 4 {
		t.Errorf("CloseAll closed %d conns, want 4", n)
	}
	ws.expectClosed()
	_ = probe.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := probe.ReadMessage(); err == nil {
		t.Error("probe connection still open")
	}
	eventually(t, 5*time.Second, "sessions removed", func() bool { return h.srv.Count() == 0 })
	if n := h.srv.CloseAll(); n != 0 {
		t.Errorf("second CloseAll closed %d", n)
	}
	// New connections are refused afterwards.
	resp, _ := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1"), nil, "")
	if resp.StatusCode == http.StatusOK {
		t.Error("handshake accepted after CloseAll")
	}
	if _, _, err := h.dialWS("EIO=3&transport=websocket", nil); err == nil {
		t.Error("websocket accepted after CloseAll")
	}
}

// TestCloseAllEIO4: CloseAll ends Engine.IO 4 sessions on both transports,
// releases a held GET with CLOSE, and refuses new ones afterwards.
func TestCloseAllEIO4(t *testing.T) {
	h := newHarness(t, nil)
	ws := h.connectWS4(t)
	p := h.connectPolling4(t)
	held := make(chan string, 1)
	go func() {
		resp, err := h.hc.Get(h.url(p.query()))
		if err != nil {
			held <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		held <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	eventually(t, 5*time.Second, "the GET held", func() bool {
		s := h.srv.eio4.lookup(p.sid)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.polling
	})
	if n := h.srv.CloseAll(); n < 2 {
		t.Errorf("CloseAll closed %d conns, want at least the 2 sessions", n)
	}
	ws.expectClosed()
	if got := <-held; got != "200 1" {
		t.Errorf("held GET got %q, want 200 with CLOSE", got)
	}
	eventually(t, 5*time.Second, "sessions removed", func() bool { return h.srv.Count() == 0 })
	if resp, _ := h.do(t, http.MethodGet, h.url("EIO=4&transport=polling"), nil, ""); resp.StatusCode == http.StatusOK {
		t.Error("handshake accepted after CloseAll")
	}
}

func TestConnCloseIdempotent(t *testing.T) {
	h := newHarness(t, nil)
	h.connectWS(t)
	h.connectPolling(t)
	set := h.set()
	set.mu.Lock()
	var conns []trackedConn
	for c := range set.conns {
		conns = append(conns, c)
	}
	set.mu.Unlock()
	if len(conns) != 2 {
		t.Fatalf("%d tracked conns, want 2", len(conns))
	}
	for _, c := range conns {
		_ = c.Close()
		if err := c.Close(); err != nil {
			t.Errorf("second Close of %T: %v", c, err)
		}
		if _, _, _, err := c.(transportConn).NextReader(); err == nil {
			t.Errorf("%T reads after Close", c)
		}
	}
	eventually(t, 5*time.Second, "sessions removed", func() bool { return h.srv.Count() == 0 })
}

type transportConn interface {
	NextReader() (frame.Type, packet.Type, io.ReadCloser, error)
}

func TestDialNotSupported(t *testing.T) {
	opts := Config{}.engineOptions()
	for _, tr := range opts.Transports {
		if _, err := tr.Dial(nil, nil); err != ErrNoDial {
			t.Errorf("%s Dial: %v", tr.Name(), err)
		}
	}
	if got := []string{opts.Transports[0].Name(), opts.Transports[1].Name()}; strings.Join(got, ",") != "polling,websocket" {
		t.Errorf("transport order %v", got)
	}
}

// TestDisconnectDuringConnect: a connection closed by what Connect started
// (here: Connect itself) still gets exactly one Disconnect, with the state
// Connect returned.
func TestDisconnectDuringConnect(t *testing.T) {
	gone := make(chan int, 4)
	srv, err := NewServer(Config{Logger: slog.New(slog.DiscardHandler)}, Handler[int]{
		Connect: func(c Conn) int {
			_ = c.Close()
			return 7
		},
		Disconnect: func(st int) { gone <- st },
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	ts := httptest.NewServer(srv)
	defer func() {
		srv.CloseAll()
		ts.Close()
		eventually(t, 5*time.Second, "sessions gone", func() bool { return srv.Count() == 0 })
		_ = srv.Close()
	}()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=3&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	select {
	case st := <-gone:
		if st != 7 {
			t.Fatalf("Disconnect got state %d, want 7", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no Disconnect")
	}
	eventually(t, 5*time.Second, "session removed", func() bool { return srv.Count() == 0 })
	if len(gone) != 0 {
		t.Fatalf("Disconnect ran %d more times", len(gone))
	}
}

// set is the transports' shared connection tracker.
func (h *harness) set() *transportSet {
	return h.srv.engine.Transports[0].(*pollingTransport).set
}

// tracked is how many connections the transports hold, as CloseAll sees them.
func (h *harness) tracked() int {
	set := h.set()
	set.mu.Lock()
	defer set.mu.Unlock()
	return len(set.conns)
}

// Bare polling handshakes (no first poll) neither fill MaxSockets nor live
// for the ping timeout: they are closed after FirstPollTimeout.
func TestBareHandshakesExpireAndHoldNoSlot(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxSockets = 3
		c.FirstPollTimeout = 300 * time.Millisecond
	})
	for range 10 {
		h.handshake(t) // fails the test on a 503
	}
	c := h.connectPolling(t)
	c.echo("a real client gets in")
	h.waitRejected(t, "abandoned", 10)
	eventually(t, 5*time.Second, "abandoned sessions gone", func() bool { return h.srv.Count() == 1 })
	c.echo("and stays")
	if n := h.srv.Sockets(); n != 1 {
		t.Fatalf("Sockets() = %d, want 1", n)
	}
}

// TestConnKeepsOnlyListedHeaders: with Config.Headers set, Conn.Header has
// the listed headers of the handshake and nothing else, on both transports.
func TestConnKeepsOnlyListedHeaders(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Headers = []string{"cookie", "Authorization"} })
	sent := http.Header{
		"Cookie":     {"session=abc"},
		"User-Agent": {"test-agent"},
		"X-Private":  {"not for the node"},
	}
	want := http.Header{"Cookie": {"session=abc"}}
	check := func(transport string, c Conn) {
		t.Helper()
		if got := c.Header(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Header() = %v, want %v", transport, got, want)
		}
	}

	ws, _, err := h.dialWS("EIO=3&transport=websocket", sent)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	select {
	case c := <-h.conns:
		check("websocket", c)
	case <-time.After(5 * time.Second):
		t.Fatal("websocket: no Connect")
	}

	resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1"), sent, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("polling handshake: %d %q", resp.StatusCode, body)
	}
	sid := mustDecodePayload(t, body)[0][len(`0{"sid":"`):]
	c := &pollClient{t: t, h: h, sid: sid[:strings.IndexByte(sid, '"')]}
	c.get() // the CONNECT; Connect runs once it is written
	select {
	case conn := <-h.conns:
		check("polling", conn)
	case <-time.After(5 * time.Second):
		t.Fatal("polling: no Connect")
	}
}
