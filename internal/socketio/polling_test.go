package socketio

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/googollee/go-socket.io/engineio/frame"
	"github.com/googollee/go-socket.io/engineio/packet"
)

// TestPollingVanishedClient: a client that does the handshake GET and is
// never heard of again used to stay counted forever (go-socket.io's
// serveConn fails to write CONNECT, closes, and never removes the session).
func TestPollingVanishedClient(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 400 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.PingInterval, c.PingTimeout = interval, timeout })
	const n = 5
	for range n {
		h.handshake(t)
	}
	if got := h.srv.Count(); got != n {
		t.Fatalf("Count() = %d right after %d handshakes, want %d", got, n, n)
	}
	start := time.Now()
	eventually(t, 10*timeout, "vanished sessions removed", func() bool { return h.srv.Count() == 0 })
	t.Logf("removed after %s (PingTimeout %s)", time.Since(start).Round(10*time.Millisecond), timeout)
}

// TestPollingHandshakeRegistered: the engine registers a session only after
// writing its OPEN packet, so without the wrapper's wait a fast client's
// first request after the handshake could get "invalid sid".
func TestPollingHandshakeRegistered(t *testing.T) {
	h := newHarness(t, nil)
	for range 50 {
		c := h.handshake(t)
		resp, body := h.do(t, http.MethodGet, h.url(c.query()), nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET right after the handshake: %d %q", resp.StatusCode, body)
		}
		if status, body := c.post("1"); status != http.StatusOK {
			t.Fatalf("close POST: %d %q", status, body)
		}
	}
	eventually(t, 5*time.Second, "sessions closed", func() bool { return h.srv.Count() == 0 })
}

// TestPollingBinaryFraming: without b64 the server frames payloads in binary
// (what browsers with XHR2 get), and a text packet sent in binary framing is
// checked like any other.
func TestPollingBinaryFraming(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling"), nil, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("handshake: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// 0x00 = string packet, then the length as one byte per digit, 0xff.
	i := strings.IndexByte(body, 0xff)
	if body[0] != 0x00 || i < 0 || !strings.HasPrefix(body[i+1:], `0{"sid":"`) {
		t.Fatalf("binary-framed handshake = %q", body)
	}
	sid := body[i+1+len(`0{"sid":"`):]
	sid = sid[:strings.IndexByte(sid, '"')]
	c := &pollClient{t: t, h: h, sid: sid}
	if resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&sid="+c.sid), nil, ""); resp.StatusCode != http.StatusOK || body != "\x00\x02\xff40" {
		t.Fatalf("binary-framed connect = %d %q", resp.StatusCode, body)
	}

	pkt := `4518446744073709551615-["x","a"]`
	frame := []byte{0x00}
	for _, d := range []byte(itoa(len(pkt))) {
		frame = append(frame, d-'0')
	}
	frame = append(frame, 0xff)
	frame = append(frame, pkt...)
	resp, _ = h.do(t, http.MethodPost, h.url("EIO=3&transport=polling&sid="+c.sid), http.Header{"Content-Type": {"application/octet-stream"}}, string(frame))
	if resp.StatusCode == http.StatusOK {
		t.Errorf("hostile binary-framed POST answered 200")
	}
	eventually(t, 5*time.Second, "session removed", func() bool { return h.srv.Count() == 0 })
	h.waitRejected(t, reasonBinary, 1)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestPollingCloseWhileWriterOut: closing the session while a packet writer
// is out (the library has handed over the waiting GET) must not leave that
// GET hanging until the write deadline.
func TestPollingCloseWhileWriterOut(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connectPolling(t)
	pc := h.pollConn(t)

	got := make(chan []string, 1)
	go func() {
		resp, body := h.do(t, http.MethodGet, h.url(c.query()), nil, "")
		if resp.StatusCode != http.StatusOK {
			got <- []string{"status " + resp.Status}
			return
		}
		got <- mustDecodePayload(t, body)
	}()
	// Stand in for the library's writer goroutine: take the GET's writer.
	w, err := pc.NextWriter(frame.String, packet.MESSAGE)
	if err != nil {
		t.Fatal(err)
	}
	_ = pc.Close()
	_, _ = io.WriteString(w, `2["last"]`)
	_ = w.Close()
	select {
	case pkts := <-got:
		if len(pkts) != 1 || pkts[0] != `42["last"]` {
			t.Errorf("GET got %q", pkts)
		}
	case <-time.After(testPingTimeout / 2):
		t.Fatal("GET not released")
	}
}

// pollConn returns the one open polling conn of the harness.
func (h *harness) pollConn(t *testing.T) *pollConn {
	t.Helper()
	set := h.srv.engine.Transports[0].(*pollingTransport).set
	set.mu.Lock()
	defer set.mu.Unlock()
	for c := range set.conns {
		if pc, ok := c.(*pollConn); ok {
			return pc
		}
	}
	t.Fatal("no polling conn")
	return nil
}

func TestPollingUpgradeTargetRefused(t *testing.T) {
	h := newHarness(t, nil)
	w := h.connectWS(t)
	eventually(t, 5*time.Second, "session counted", func() bool { return h.srv.Count() == 1 })
	// "Downgrading" a websocket session to polling is not something a
	// client does, and must not park a goroutine.
	sid := (<-h.conns).ID()
	resp, _ := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1&sid="+sid), nil, "")
	if resp.StatusCode == http.StatusOK {
		t.Errorf("polling upgrade of a websocket session answered 200")
	}
	w.echo("unaffected")
}

// TestUpgradePollingToWebsocket runs the Engine.IO 3 upgrade with raw frames
// through both wrappers: probe over websocket, the pending poll answered
// with a noop once paused, upgrade, then traffic moves to the websocket.
func TestUpgradePollingToWebsocket(t *testing.T) {
	h := newHarness(t, nil)
	p := h.connectPolling(t)
	p.echo("before")

	pending := make(chan []string, 1)
	go func() {
		resp, body := h.do(t, http.MethodGet, h.url(p.query()), nil, "")
		if resp.StatusCode != http.StatusOK {
			pending <- []string{"status " + resp.Status}
			return
		}
		pending <- mustDecodePayload(t, body)
	}()

	ws, _, err := h.dialWS("EIO=3&transport=websocket&sid="+p.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &wsClient{t: t, ws: ws}
	c.send("2probe")
	if m := c.read(); m != "3probe" {
		t.Fatalf("probe answer = %q", m)
	}
	// The server pauses polling: the outstanding GET returns a noop.
	select {
	case pkts := <-pending:
		if len(pkts) != 1 || pkts[0] != "6" {
			t.Fatalf("pending poll got %q, want noop", pkts)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending poll not released by the pause")
	}
	c.send("5")
	c.echo("after")
	c.send("2")
	if m := c.read(); m != "3" {
		t.Fatalf("pong = %q", m)
	}
	if n := h.srv.Count(); n != 1 {
		t.Errorf("Count() = %d after the upgrade, want 1", n)
	}
	// The polling side is gone.
	resp, _ := h.do(t, http.MethodPost, h.url(p.query()), nil, encodeTextPayload("2"))
	if resp.StatusCode == http.StatusOK {
		t.Errorf("POST to the upgraded polling transport answered 200")
	}
	c.echo("still")
}

// TestUpgradeAbandoned: a client that probes and then never sends the
// upgrade packet leaves the session on polling, working, once the probe
// connection ends.
func TestUpgradeAbandoned(t *testing.T) {
	h := newHarness(t, nil)
	p := h.connectPolling(t)
	ws, _, err := h.dialWS("EIO=3&transport=websocket&sid="+p.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, ws: ws}
	c.send("2probe")
	if m := c.read(); m != "3probe" {
		t.Fatalf("probe answer = %q", m)
	}
	// Polling is paused now; a GET gets a noop and the session waits.
	if pkts := p.get(); len(pkts) != 1 || pkts[0] != "6" {
		t.Fatalf("poll while paused = %q", pkts)
	}
	_ = ws.Close() // the upgrade fails: the session resumes polling
	// Until the server has seen the websocket go, a POST is held (and fed
	// in on resume) and a GET gets a noop: either way the ack comes.
	p.id++
	if status, body := p.post(fmt.Sprintf(`42%d["echo","resumed"]`, p.id)); status != http.StatusOK {
		t.Fatalf("echo POST: %d %q", status, body)
	}
	var got []string
	eventually(t, 5*time.Second, "a GET with more than a noop", func() bool {
		got = p.get()
		return len(got) != 1 || got[0] != "6"
	})
	if want := fmt.Sprintf(`43%d["resumed"]`, p.id); len(got) != 1 || got[0] != want {
		t.Fatalf("after the resume: %q, want %q", got, want)
	}
	p.echo("polling again")
}

// A session has one websocket at most: further upgrade attempts on its sid
// while one is open are refused before the hijack, so they cannot pile up
// connections outside any socket count; once it ends, a new one may try.
func TestOneUpgradeAtATime(t *testing.T) {
	h := newHarness(t, nil)
	p := h.connectPolling(t)
	first, _, err := h.dialWS("EIO=3&transport=websocket&sid="+p.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The 101 can reach the client before the server has tracked the conn.
	eventually(t, 5*time.Second, "the first websocket tracked", func() bool { return h.tracked() == 2 })
	for range 5 {
		if ws, resp, err := h.dialWS("EIO=3&transport=websocket&sid="+p.sid, nil); err == nil {
			ws.Close()
			t.Fatal("a second websocket was accepted on one session")
		} else if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("second upgrade: %v", err)
		}
	}
	h.waitRejected(t, "second upgrade", 5)
	if n := h.tracked(); n != 2 {
		t.Fatalf("%d connections tracked, want the polling session and one websocket", n)
	}
	_ = first.Close()
	eventually(t, 5*time.Second, "the first attempt ended", func() bool { return h.tracked() == 1 })
	again, _, err := h.dialWS("EIO=3&transport=websocket&sid="+p.sid, nil)
	if err != nil {
		t.Fatalf("a new attempt after the first ended: %v", err)
	}
	again.Close()
}
