package socketio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialers open a connected socket.io client over websocket, for each way a
// websocket comes to carry a session.
var dialers = []struct {
	name string
	dial func(t *testing.T, h *harness) *wsClient
}{
	{"EIO 3", func(t *testing.T, h *harness) *wsClient { return h.connectWS(t) }},
	{"EIO 3 upgrade", func(t *testing.T, h *harness) *wsClient { return upgradeWS(t, h, "3", h.connectPolling(t).sid) }},
	{"EIO 4", func(t *testing.T, h *harness) *wsClient { return h.connectWS4(t) }},
	{"EIO 4 upgrade", func(t *testing.T, h *harness) *wsClient { return upgradeWS(t, h, "4", h.connectPolling4(t).sid) }},
}

// upgradeWS upgrades polling session sid to a websocket: probe, then UPGRADE.
func upgradeWS(t *testing.T, h *harness, eio, sid string) *wsClient {
	t.Helper()
	c := h.mustDialWS(t, "EIO="+eio+"&transport=websocket&sid="+sid)
	c.send("2probe")
	if m := c.read(); m != "3probe" {
		t.Fatalf("probe answer = %q", m)
	}
	c.send("5")
	return c
}

// An idle websocket holds no goroutine: its connection parks until the
// socket has data, and wakes for it.
func TestIdleWebsocketsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a goroutine waits on each websocket where there is no poller")
	}
	const n = 40
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, nil)
			d.dial(t, h).echo("warm") // the poller's goroutine is in the baseline
			h.hc.CloseIdleConnections()
			base := runtime.NumGoroutine()
			clients := make([]*wsClient, n)
			for i := range clients {
				clients[i] = d.dial(t, h)
				clients[i].echo("parked")
			}
			h.hc.CloseIdleConnections()
			// A few to spare for the HTTP server's and the engine's own
			// goroutines winding down; one per socket would be n.
			const spare = 5
			eventually(t, 10*time.Second, fmt.Sprintf("at most %d goroutines", base+spare), func() bool {
				return runtime.NumGoroutine() <= base+spare
			})
			for i, c := range clients {
				c.echo(fmt.Sprint("woken ", i))
			}
		})
	}
}

// rawFrames writes client frames in one write: the server must dispatch
// every message in it, in order, and answer the control frames among them.
func (c *wsClient) rawFrames(frames ...[]byte) {
	c.t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	if _, err := c.ws.NetConn().Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func TestWebsocketFramesInOneWrite(t *testing.T) {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, nil)
			c := d.dial(t, h)
			c.echo("first")
			pongs := make(chan string, 4)
			c.ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
			// Two messages, then one in fragments with a ping between them.
			c.rawFrames(
				maskedFrame(true, opText, []byte(`421["echo","a"]`), key),
				maskedFrame(true, opText, []byte(`422["echo","b"]`), key),
				maskedFrame(false, opText, []byte(`423["ec`), key),
				maskedFrame(true, opPing, []byte("are you there"), key),
				maskedFrame(true, opContinuation, []byte(`ho","c"]`), key),
			)
			for _, want := range []string{`431["a"]`, `432["b"]`, `433["c"]`} {
				if got := c.read(); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			if got := <-pongs; got != "are you there" {
				t.Errorf("pong = %q", got)
			}
			// A frame cut in two, the halves written apart.
			f := maskedFrame(true, opText, []byte(`424["echo","d"]`), key)
			c.rawFrames(f[:5])
			c.rawFrames(f[5:])
			if got := c.read(); got != `434["d"]` {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// A message over MaxFrameBytes, whole or in fragments, and a frame that
// breaks RFC 6455 are refused with gorilla's close codes, and counted.
func TestWebsocketRefusals(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	unmasked := maskedFrame(true, opText, []byte("40"), key)
	unmasked[1] &^= 0x80
	cases := []struct {
		name   string
		frames [][]byte
		code   int
		reason string
	}{
		{"over the limit", [][]byte{maskedFrame(true, opText, make([]byte, 1025), key)}, websocket.CloseMessageTooBig, reasonTooLarge},
		{"fragments over the limit", [][]byte{maskedFrame(false, opText, make([]byte, 1000), key), maskedFrame(true, opContinuation, make([]byte, 25), key)}, websocket.CloseMessageTooBig, reasonTooLarge},
		{"unmasked", [][]byte{unmasked}, websocket.CloseProtocolError, reasonBadPacket},
	}
	for _, d := range dialers {
		for _, tc := range cases {
			t.Run(d.name+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, func(cfg *Config) { cfg.MaxFrameBytes = 1024 })
				other := d.dial(t, h)
				<-h.conns // other's: socket.io 2 learns it is connected before Connect runs
				c := d.dial(t, h)
				conn := <-h.conns
				c.rawFrames(tc.frames...)
				_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
				var err error
				for err == nil {
					_, _, err = c.ws.ReadMessage()
				}
				if !websocket.IsCloseError(err, tc.code) {
					t.Errorf("read: %v, want close %d", err, tc.code)
				}
				h.waitRejected(t, tc.reason, 1)
				eventually(t, 5*time.Second, "Err set", func() bool { return conn.Err() != nil })
				if !errors.Is(conn.Err(), ErrProtocol) {
					t.Errorf("Err = %v, want ErrProtocol", conn.Err())
				}
				other.echo("unaffected")
			})
		}
	}
}

// Engine.IO 3 clients ping; one that stops is closed PingTimeout after its
// last ping, as the library's read deadline did, whether it is silent or
// half way through a frame.
func TestEIO3PingTimeout(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 400 * time.Millisecond
	for _, half := range []bool{false, true} {
		t.Run(fmt.Sprint("half frame ", half), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(cfg *Config) { cfg.PingInterval, cfg.PingTimeout = interval, timeout })
			c := h.connectWS(t)
			conn := <-h.conns
			// Pings keep it open well past the timeout.
			start, last := time.Now(), time.Now()
			for time.Since(start) < 2*timeout {
				last = time.Now()
				c.send("2x")
				if got := c.read(); got != "3x" {
					t.Fatalf("pong = %q", got)
				}
				time.Sleep(interval)
			}
			if conn.Err() != nil {
				t.Fatalf("closed while pinging: %v", conn.Err())
			}
			if half {
				f := maskedFrame(true, opText, []byte(`42["echo","x"]`), [4]byte{})
				c.rawFrames(f[:6])
			}
			c.expectClosed()
			if took := time.Since(last); took < timeout-50*time.Millisecond {
				t.Errorf("closed %v after the last ping, before its %v timeout", took, timeout)
			}
			eventually(t, 5*time.Second, "timeout recorded", func() bool { return isTimeout(conn.Err()) })
		})
	}
}

// Engine.IO 4: the server pings; a client that answers stays, and websocket
// pings are answered too; one that stops answering is closed.
func TestEIO4PongTimeout(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 400 * time.Millisecond
	h := newHarness(t, func(cfg *Config) { cfg.PingInterval, cfg.PingTimeout = interval, timeout })
	c := h.connectWS4(t)
	conn := <-h.conns
	pongs := make(chan string, 16)
	c.ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
	for i := range 8 {
		if got := c.read(); got != "2" {
			t.Fatalf("ping = %q", got)
		}
		c.send("3")
		if err := c.ws.WriteControl(websocket.PingMessage, []byte{byte(i)}, time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if len(pongs) == 0 {
		t.Error("no pong for the websocket pings")
	}
	if conn.Err() != nil {
		t.Fatalf("closed while answering: %v", conn.Err())
	}
	// A half frame, then silence.
	c.rawFrames(maskedFrame(true, opText, []byte(`42["echo","x"]`), [4]byte{})[:4])
	c.expectClosed()
	eventually(t, 5*time.Second, "timeout recorded", func() bool { return isTimeout(conn.Err()) })
}

// A client that closes the TCP connection without a close frame is a
// transport failure (gorilla's 1006), one that sends a close frame has
// closed the connection (io.EOF), as before.
func TestWebsocketClientGoes(t *testing.T) {
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, nil)
			c := d.dial(t, h)
			conn := <-h.conns
			c.echo("x")
			_ = c.ws.NetConn().(*net.TCPConn).CloseWrite()
			eventually(t, 5*time.Second, "conn ended", func() bool { return conn.Err() != nil })
			var ce *websocket.CloseError
			if !errors.As(conn.Err(), &ce) || ce.Code != websocket.CloseAbnormalClosure {
				t.Errorf("vanished: Err = %v", conn.Err())
			}
			c2 := d.dial(t, h)
			conn2 := <-h.conns
			c2.echo("y")
			if err := c2.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "conn ended", func() bool { return conn2.Err() != nil })
			if !errors.Is(conn2.Err(), io.EOF) {
				t.Errorf("close frame: Err = %v", conn2.Err())
			}
		})
	}
}
