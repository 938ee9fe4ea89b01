package sioclient

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	socketio "github.com/googollee/go-socket.io"
	"github.com/googollee/go-socket.io/engineio"
	"github.com/gorilla/websocket"
)

// testServer is a real go-socket.io 1.7.0 server, used the ordinary way.
type testServer struct {
	URL string

	mu     sync.Mutex
	remote map[string]string // session id -> remote address at connect
}

func startServer(t *testing.T, opts *engineio.Options) *testServer {
	t.Helper()
	ts := &testServer{remote: map[string]string{}}
	s := socketio.NewServer(opts)
	s.OnConnect("/", func(c socketio.Conn) error {
		ts.mu.Lock()
		ts.remote[c.ID()] = c.RemoteAddr().String()
		ts.mu.Unlock()
		return nil
	})
	s.OnEvent("/", "echo", func(_ socketio.Conn, msg string) string { return msg })
	// "trigger" makes the server emit "news" back, and acks nothing.
	s.OnEvent("/", "trigger", func(c socketio.Conn, msg string) { c.Emit("news", msg, 42) })
	s.OnEvent("/", "bye", func(c socketio.Conn) { c.Close() })
	go func() { _ = s.Serve() }()
	hs := httptest.NewServer(s)
	// The socket.io server is not closed: go-socket.io 1.7.0's Close makes
	// a handshake still finishing in the background send on a closed
	// channel and panic, which would take the whole test binary down. Its
	// Serve goroutine is left to the end of the process instead.
	t.Cleanup(hs.Close)
	ts.URL = hs.URL
	return ts
}

func (ts *testServer) remoteOf(sid string) string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.remote[sid]
}

// transports are the three ways a connection can be made.
var transports = []struct {
	name string
	opts Options
	want string // transport after Dial
}{
	{"websocket", Options{}, "websocket"},
	{"polling", Options{Transport: "polling"}, "polling"},
	{"upgrade", Options{Transport: "polling", Upgrade: true}, "websocket"},
}

func dial(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := Dial(ctx, url, opts)
		cancel()
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if !opts.Upgrade || c.Transport() != "websocket" {
			return c
		}
		// go-socket.io 1.7.0 sometimes (a few percent) kills a session
		// just after the upgrade: its reader can still hold the polling
		// conn the upgrade closes, read EOF from it, and close the session,
		// websocket included. A browser reconnects; so does this helper,
		// once the connection has been shown to be the victim.
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.EmitAck(ctx, "echo", "after upgrade")
		cancel()
		if err == nil {
			return c
		}
		if !errors.Is(err, ErrConnLost) || attempt == 5 {
			t.Fatalf("connection failed after upgrade: %v", err)
		}
		t.Logf("upgraded connection lost to go-socket.io's upgrade race, redialing: %v", err)
	}
}

func echo(t *testing.T, c *Client, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args, err := c.EmitAck(ctx, "echo", msg)
	if err != nil {
		t.Fatalf("EmitAck: %v", err)
	}
	var got string
	if len(args) != 1 || json.Unmarshal(args[0], &got) != nil || got != msg {
		t.Fatalf("ack = %s; want [%q]", args, msg)
	}
}

func TestEmitAckRoundtrip(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.URL, tc.opts)
			if got := c.Transport(); got != tc.want {
				t.Fatalf("Transport() = %q (upgrade error %v); want %q", got, c.UpgradeErr(), tc.want)
			}
			if c.SID() == "" {
				t.Fatal("empty SID")
			}
			// Several in a row: acks must match ids, and polling must keep
			// its GET loop and POSTs going.
			for _, msg := range []string{"hello", "again", `<&>"quoted"`} {
				echo(t, c, msg)
			}
		})
	}
}

func TestUTF8OverPolling(t *testing.T) {
	ts := startServer(t, nil)
	const msg = "ünïcødé ✓"
	c := dial(t, ts.URL, Options{Transport: "polling"})
	// Client to server: the POST's length prefix must count bytes.
	echo(t, c, msg)
	// Server to client: so must the poll answer's.
	if err := c.Emit("trigger", msg); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, c.Events())
	var got string
	if ev.Name != "news" || len(ev.Args) != 2 || json.Unmarshal(ev.Args[0], &got) != nil || got != msg {
		t.Fatalf("event = %s %s; want news [%q 42]", ev.Name, ev.Args, msg)
	}
}

func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	panic("unreachable")
}

func TestServerEvents(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range transports {
		t.Run(tc.name+"/Events", func(t *testing.T) {
			c := dial(t, ts.URL, tc.opts)
			before := time.Now()
			if err := c.Emit("trigger", "x"); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, c.Events())
			if ev.Name != "news" || len(ev.Args) != 2 || string(ev.Args[0]) != `"x"` || string(ev.Args[1]) != "42" {
				t.Fatalf("event = %q %s; want news [\"x\" 42]", ev.Name, ev.Args)
			}
			if ev.At.Before(before) || time.Since(ev.At) > 5*time.Second {
				t.Fatalf("At = %v; want between %v and now", ev.At, before)
			}
		})
		t.Run(tc.name+"/OnEvent", func(t *testing.T) {
			got := make(chan Event, 1)
			opts := tc.opts
			opts.OnEvent = func(ev Event) { got <- ev }
			c := dial(t, ts.URL, opts)
			if c.Events() != nil {
				t.Fatal("Events() is not nil with OnEvent set")
			}
			// A raw packet, as hostile-input tests send them.
			if err := c.SendRaw(`42["trigger","raw"]`); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, got)
			if ev.Name != "news" || string(ev.Args[0]) != `"raw"` {
				t.Fatalf("event = %q %s; want news [\"raw\" 42]", ev.Name, ev.Args)
			}
		})
	}
}

// settleGoroutines waits for the goroutine count to fall to want: teardown
// is asynchronous on the server side and in net/http.
func settleGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseReleasesGoroutines(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			// A warm-up connection lets the server start whatever it keeps.
			warm := dial(t, ts.URL, tc.opts)
			echo(t, warm, "warm")
			_ = warm.Close()
			settleGoroutines(t, runtime.NumGoroutine())
			before := runtime.NumGoroutine()

			c := dial(t, ts.URL, tc.opts)
			echo(t, c, "x")
			if err := c.Emit("trigger", "y"); err != nil {
				t.Fatal(err)
			}
			nextEvent(t, c.Events())
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			default:
				t.Fatal("Done not closed after Close")
			}
			if _, ok := <-c.Events(); ok {
				t.Fatal("Events not closed after Close")
			}
			if !errors.Is(c.Err(), ErrClosed) {
				t.Fatalf("Err() = %v; want ErrClosed", c.Err())
			}
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := c.Emit("echo", "late"); !errors.Is(err, ErrClosed) {
				t.Fatalf("Emit after Close = %v; want ErrClosed", err)
			}
			settleGoroutines(t, before)
		})
	}
}

// TestOneGoroutinePerWebsocket guards the load generator's budget: an idle
// websocket connection runs its reader and nothing else.
func TestOneGoroutinePerWebsocket(t *testing.T) {
	ts := startServer(t, nil)
	const n = 20
	for range n {
		dial(t, ts.URL, Options{OnEvent: func(Event) {}})
	}
	buf := make([]byte, 1<<20)
	stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	got := 0
	for _, s := range stacks {
		if strings.Contains(s, "sioclient.(*Client)") {
			got++
		}
	}
	if got != n {
		t.Fatalf("%d goroutines in Client code for %d connections; want %d", got, n, n)
	}
}

func TestLocalAddr(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.LocalAddr = "127.0.0.5"
			c := dial(t, ts.URL, opts)
			echo(t, c, "x")
			host, _, err := net.SplitHostPort(ts.remoteOf(c.SID()))
			if err != nil || host != "127.0.0.5" {
				t.Fatalf("server saw %q (%v); want 127.0.0.5", ts.remoteOf(c.SID()), err)
			}
		})
	}
}

func TestServerCloses(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.URL, tc.opts)
			if err := c.Emit("bye"); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed 5s after the server closed")
			}
			// go-socket.io drops the connection without a close packet.
			if err := c.Err(); !errors.Is(err, ErrConnLost) {
				t.Fatalf("Err() = %v; want ErrConnLost", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if _, err := c.EmitAck(ctx, "echo", "x"); !errors.Is(err, ErrConnLost) {
				t.Fatalf("EmitAck after the end = %v; want ErrConnLost", err)
			}
		})
	}
}

// TestHeartbeat keeps a connection through several server pingTimeouts:
// go-socket.io drops a session that does not ping, so the connection only
// survives if we do.
func TestHeartbeat(t *testing.T) {
	// The timeout leaves room for scheduling delays under -race on a busy
	// machine, where 150 ms stalls have been seen.
	const interval, timeout = 100 * time.Millisecond, time.Second
	ts := startServer(t, &engineio.Options{PingInterval: interval, PingTimeout: timeout})
	// Each ping waits a full interval after the last pong, so this many
	// round trips span two server timeouts however slow the machine is.
	const rounds = int(2 * timeout / interval)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, ts.URL, tc.opts)
			deadline := time.Now().Add(30 * time.Second)
			for c.heartbeats() < rounds {
				select {
				case <-c.Done():
					t.Fatalf("connection ended after %d heartbeats: %v", c.heartbeats(), c.Err())
				case <-time.After(interval):
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d heartbeats in 30s, want %d", c.heartbeats(), rounds)
				}
			}
			if err := c.Err(); err != nil {
				t.Fatalf("connection ended: %v", err)
			}
			echo(t, c, "still here")
		})
	}
}

func TestEmitAckWithoutAck(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts.URL, Options{})
	// go-socket.io acks only handlers that return something.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.EmitAck(ctx, "trigger", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EmitAck = %v; want DeadlineExceeded", err)
	}
	echo(t, c, "the connection still works")
}

func TestHandshakeRefused(t *testing.T) {
	ts := startServer(t, nil)
	// go-socket.io's websocket transport keeps gorilla's same-origin check
	// unless the server sets CheckOrigin.
	hdr := http.Header{"Origin": {"http://elsewhere.example"}}
	_, err := Dial(context.Background(), ts.URL, Options{Header: hdr})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Fatalf("Dial = %v; want a 403 StatusError", err)
	}
}

func TestBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		url  string
		opts Options
	}{
		"transport": {"http://127.0.0.1:1", Options{Transport: "flash"}},
		"scheme":    {"ftp://127.0.0.1:1", Options{}},
		"localaddr": {"http://127.0.0.1:1", Options{LocalAddr: "localhost"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Dial(context.Background(), tc.url, tc.opts); err == nil {
				t.Fatal("Dial succeeded")
			}
		})
	}
}

// fakeServer is a hand-written Engine.IO endpoint for what go-socket.io
// cannot be made to do: go silent, refuse the namespace, send a close.
func fakeServer(t *testing.T, script func(ws *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		script(ws)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func writeText(ws *websocket.Conn, s string) { _ = ws.WriteMessage(websocket.TextMessage, []byte(s)) }

const fakeOpen = `0{"sid":"fake","upgrades":[],"pingInterval":50,"pingTimeout":100}`

func TestFakeServer(t *testing.T) {
	tests := []struct {
		name    string
		script  func(ws *websocket.Conn)
		dialErr error // want Dial to fail with this
		endErr  error // else want the connection to end with this
	}{
		{
			name: "silent server times out pings",
			script: func(ws *websocket.Conn) {
				writeText(ws, fakeOpen)
				writeText(ws, "40")
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						return
					}
				}
			},
			endErr: ErrPingTimeout,
		},
		{
			name: "namespace refused",
			script: func(ws *websocket.Conn) {
				writeText(ws, fakeOpen)
				writeText(ws, `44"not allowed"`)
				_, _, _ = ws.ReadMessage()
			},
			dialErr: ErrRefused,
		},
		{
			name: "engine.io close",
			script: func(ws *websocket.Conn) {
				writeText(ws, fakeOpen)
				writeText(ws, "40")
				writeText(ws, "1")
				_, _, _ = ws.ReadMessage()
			},
			endErr: ErrServerClosed,
		},
		{
			name: "socket.io disconnect",
			script: func(ws *websocket.Conn) {
				writeText(ws, fakeOpen)
				writeText(ws, "40")
				writeText(ws, "41")
				_, _, _ = ws.ReadMessage()
			},
			endErr: ErrServerClosed,
		},
		{
			name: "garbage",
			script: func(ws *websocket.Conn) {
				writeText(ws, fakeOpen)
				writeText(ws, "40")
				writeText(ws, `42{"not":"an array"}`)
				_, _, _ = ws.ReadMessage()
			},
			endErr: ErrProtocol,
		},
		{
			name: "no open packet",
			script: func(ws *websocket.Conn) {
				writeText(ws, "40")
				_, _, _ = ws.ReadMessage()
			},
			dialErr: ErrProtocol,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := fakeServer(t, tc.script)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, url, Options{})
			if tc.dialErr != nil {
				if !errors.Is(err, tc.dialErr) {
					t.Fatalf("Dial = %v; want %v", err, tc.dialErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection did not end")
			}
			if !errors.Is(c.Err(), tc.endErr) {
				t.Fatalf("Err() = %v; want %v", c.Err(), tc.endErr)
			}
		})
	}
}

// TestFakeServerEvents checks decoding details go-socket.io does not
// exercise: namespaces, escaped names, binary attachments, ack ids.
func TestFakeServerEvents(t *testing.T) {
	url := fakeServer(t, func(ws *websocket.Conn) {
		writeText(ws, fakeOpen)
		writeText(ws, "40")
		writeText(ws, `2`) // a stray server ping is ignored
		writeText(ws, `42/other,["skipped"]`)
		writeText(ws, `451-["bin",{"_placeholder":true,"num":0}]`)
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte{4, 1, 2, 3})
		writeText(ws, `42/,7["caf\u00e9", {"a":[1,","]} , null]`)
		writeText(ws, `42["e"]`)
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if string(msg) == "2" {
				writeText(ws, "3")
			}
		}
	})
	c := dial(t, url, Options{})
	want := []struct{ name, args string }{
		{"bin", `[{"_placeholder":true,"num":0}]`},
		{"café", `[{"a":[1,","]},null]`},
		{"e", `[]`},
	}
	for _, w := range want {
		ev := nextEvent(t, c.Events())
		args, _ := json.Marshal(ev.Args)
		if ev.Name != w.name || string(args) != w.args {
			t.Fatalf("event = %q %s; want %q %s", ev.Name, args, w.name, w.args)
		}
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
}

func TestRawSends(t *testing.T) {
	ts := startServer(t, nil)
	// Each sends a noop in the transport's raw form; the connection must
	// go on as if nothing happened.
	tests := []struct {
		name string
		opts Options
		send func(c *Client) error
	}{
		{"websocket text", Options{}, func(c *Client) error { return c.SendRaw("6") }},
		{"websocket binary", Options{}, func(c *Client) error { return c.SendRawBinary([]byte{6}) }},
		{"polling text", Options{Transport: "polling"}, func(c *Client) error { return c.SendRaw("6") }},
		// Binary payload framing: 0 (string packet), length digits as
		// bytes, 0xff, packet.
		{"polling binary", Options{Transport: "polling"}, func(c *Client) error { return c.SendRawBinary([]byte{0, 1, 0xff, '6'}) }},
		{"polling payload", Options{Transport: "polling"}, func(c *Client) error {
			return c.SendRawPayload("text/plain;charset=UTF-8", []byte("1:6"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.URL, tc.opts)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			echo(t, c, "after raw noop")
		})
	}
	c := dial(t, ts.URL, Options{})
	if err := c.SendRawPayload("text/plain;charset=UTF-8", []byte("1:6")); !errors.Is(err, ErrNotPolling) {
		t.Fatalf("SendRawPayload over websocket = %v; want ErrNotPolling", err)
	}
}
