package socketio

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestEIO4Handshake: the OPEN packet carries Engine.IO 4's fields, with
// pingTimeout as the wait for a PONG and maxPayload as the POST cap.
func TestEIO4Handshake(t *testing.T) {
	h := newHarness(t, nil)
	_, ws := h.dialWS4(t)
	_, poll := h.handshake4(t)
	for name, o := range map[string]openInfo{"websocket": ws, "polling": poll} {
		if o.PingInterval != testPingInterval.Milliseconds() || o.PingTimeout != (testPingTimeout-testPingInterval).Milliseconds() ||
			o.MaxPayload != defaultMaxPollBody || !validSID(o.SID) {
			t.Errorf("%s open = %+v", name, o)
		}
	}
	if len(ws.Upgrades) != 0 || len(poll.Upgrades) != 1 || poll.Upgrades[0] != "websocket" {
		t.Errorf("upgrades: websocket %v, polling %v", ws.Upgrades, poll.Upgrades)
	}
}

// TestEIO4Events: CONNECT, an event with an ack, and a server Send, on
// each transport and after an upgrade; the Conn says which protocol.
func TestEIO4Events(t *testing.T) {
	h := newHarness(t, nil)
	t.Run("websocket", func(t *testing.T) {
		c := h.connectWS4(t)
		conn := <-h.conns
		if conn.Protocol() != protocolEIO4 {
			t.Errorf("Protocol() = %q", conn.Protocol())
		}
		c.echo("over websocket")
		if err := conn.Send(testFrame(`2["hint",1]`)); err != nil {
			t.Fatal(err)
		}
		if got := c.read(); got != `42["hint",1]` {
			t.Fatalf("sent %q", got)
		}
	})
	t.Run("polling", func(t *testing.T) {
		c := h.connectPolling4(t)
		conn := <-h.conns
		c.echo("over polling")
		if err := conn.TrySend(testFrame(`2["hint",2]`)); err != ErrWouldBlock {
			t.Fatalf("TrySend on polling = %v", err)
		}
		if err := conn.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := c.get(); len(got) != 1 || got[0] != `42["hint",2]` {
			t.Fatalf("polled %q", got)
		}
	})
	t.Run("upgrade", func(t *testing.T) {
		p := h.connectPolling4(t)
		conn := <-h.conns
		c := h.mustDialWS(t, "EIO=4&transport=websocket&sid="+p.sid)
		c.send("2probe")
		if got := c.read(); got != "3probe" {
			t.Fatalf("probe answer %q", got)
		}
		if got := p.get(); len(got) != 1 || got[0] != "6" {
			t.Fatalf("GET during the upgrade = %q, want NOOP", got)
		}
		c.send("5")
		c.echo("after the upgrade")
		if err := conn.Send(testFrame(`2["hint",3]`)); err != nil {
			t.Fatal(err)
		}
		if got := c.read(); got != `42["hint",3]` {
			t.Fatalf("sent %q", got)
		}
		if resp, _ := h.do(t, http.MethodGet, h.url(p.query()), nil, ""); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET after the upgrade: %d, want 400", resp.StatusCode)
		}
	})
}

// TestEIO4UpgradeInProbeFirst: a websocket for a session whose upgrade is
// in the probe is answered once that probe is over, so a client that sent
// 2probe before opening a second websocket reads 3probe before the second
// is refused. The official suite counts on that order ("ignores WebSocket
// connection with same sid after upgrade"), and on a loaded box the
// refusal used to win about one run in forty.
func TestEIO4UpgradeInProbeFirst(t *testing.T) {
	h := newHarness(t, nil)
	p := h.connectPolling4(t)
	first := h.mustDialWS(t, "EIO=4&transport=websocket&sid="+p.sid)
	second := make(chan error, 1)
	go func() {
		ws, _, err := h.dialWS("EIO=4&transport=websocket&sid="+p.sid, nil)
		if err == nil {
			_, _, err = ws.ReadMessage()
			_ = ws.Close()
		}
		second <- err
	}()
	s := h.srv.eio4.lookup(p.sid)
	eventually(t, 5*time.Second, "the second websocket waiting for the probe", func() bool {
		select {
		case err := <-second:
			t.Fatalf("the second websocket was answered before the probe: %v", err)
		default:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.upgrades == 2
	})
	first.send("2probe")
	if got := first.read(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	first.send("5")
	select {
	case err := <-second:
		if err == nil {
			t.Fatal("the second websocket read a message")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second websocket still open after the upgrade")
	}
	h.waitRejected(t, reasonUpgrade, 1)
	first.echo("after the upgrade")
}

func testFrame(packet string) Frame {
	return EndFrame(append(StartFrame(nil), packet...))
}

// TestEIO4Auth: an auth payload the Handler refuses gets CONNECT_ERROR
// with its reason, Disconnect runs for the refused connection, and the
// client may connect again on the same session.
func TestEIO4Auth(t *testing.T) {
	h := newHarness(t, nil)
	c, _ := h.dialWS4(t)
	c.send(`40{"token":"deny"}`)
	if got := c.read(); got != `44{"message":"denied"}` {
		t.Fatalf("refusal = %q", got)
	}
	eventually(t, 5*time.Second, "Disconnect of the refused connection", func() bool { return h.disconnects.Load() == 1 })
	c.send(`40{"token":"fine"}`)
	if got := c.read(); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("connect answer = %q", got)
	}
	c.echo("connected")
	c.send("40/other,")
	if got := c.read(); got != `44/other,{"message":"Invalid namespace"}` {
		t.Fatalf("other namespace = %q", got)
	}
	// Leaving the root namespace ends the connection, not the session.
	c.send("41")
	eventually(t, 5*time.Second, "Disconnect after 41", func() bool { return h.disconnects.Load() == 2 })
	c.send("40")
	if got := c.read(); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("connect again = %q", got)
	}
	c.echo("again")
}

// TestEIO4BadInput: bad input on Engine.IO 4 gets the protocol's own
// answer (a 400 with Engine.IO's JSON error on long-polling, the socket
// closed on websocket), is counted by reason, and does nothing to other
// connections of either version.
func TestEIO4BadInput(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxFrameBytes = 1 << 10; c.MaxPollBody = 4 << 10 })
	witness3 := h.connectWS(t)
	witness4 := h.connectPolling4(t)
	big := "42" + `["echo","` + strings.Repeat("x", 2<<10) + `"]`
	ws := []struct {
		name, reason string
		send         func(c *wsClient)
	}{
		{"not a packet", reasonBadPacket, func(c *wsClient) { c.send("abc") }},
		{"a client PING (Engine.IO 3)", reasonBadPacket, func(c *wsClient) { c.send("2") }},
		{"unknown socket.io type", reasonBadPacket, func(c *wsClient) { c.send("4abc") }},
		{"event not an array", reasonBadPacket, func(c *wsClient) { c.send("42{}") }},
		{"bad ack id", reasonBadPacket, func(c *wsClient) { c.send(`42abc["echo",1]`) }},
		{"binary frame", reasonBinary, func(c *wsClient) { c.sendBinary([]byte{1, 2, 3}) }},
		{"attachments", reasonBinary, func(c *wsClient) { c.send(`451-["echo",{"_placeholder":true,"num":0}]`) }},
		{"too large", reasonTooLarge, func(c *wsClient) { c.send(big) }},
	}
	for _, tt := range ws {
		t.Run("websocket "+tt.name, func(t *testing.T) {
			before := h.rejected(tt.reason)
			c := h.connectWS4(t)
			tt.send(c)
			c.expectClosed()
			h.waitRejected(t, tt.reason, before+1)
		})
	}
	t.Run("websocket event before CONNECT", func(t *testing.T) {
		before := h.rejected(reasonBadPacket)
		c, _ := h.dialWS4(t)
		c.send(`42["echo",1]`)
		c.expectClosed()
		h.waitRejected(t, reasonBadPacket, before+1)
	})
	polling := []struct{ name, body, reason string }{
		{"not a packet", "abc", reasonBadPacket},
		{"empty record", "42[\"echo\",1]\x1e\x1e", reasonBadPacket},
		{"bad base64", "b!!!", reasonBadPacket},
		{"UPGRADE on polling", "5", reasonBadPacket},
		{"a client PING (Engine.IO 3)", "2", reasonBadPacket},
		{"Engine.IO 3 framing", "2:40", reasonBadPacket},
		{"too large a packet", big, reasonTooLarge},
	}
	for _, tt := range polling {
		t.Run("polling "+tt.name, func(t *testing.T) {
			before := h.rejected(tt.reason)
			c := h.connectPolling4(t)
			status, body := c.post(tt.body)
			if status != http.StatusBadRequest || !strings.Contains(body, `"code":3`) {
				t.Fatalf("POST %q: %d %q, want 400 with an Engine.IO error", tt.body, status, body)
			}
			h.waitRejected(t, tt.reason, before+1)
			if resp, _ := h.do(t, http.MethodGet, h.url(c.query()), nil, ""); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("GET after the refusal: %d, want 400", resp.StatusCode)
			}
		})
	}
	t.Run("polling body too large", func(t *testing.T) {
		before := h.rejected(reasonBody)
		c := h.connectPolling4(t)
		status, _ := c.post(strings.Repeat("4x\x1e", 2<<10) + "4x")
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", status)
		}
		h.waitRejected(t, reasonBody, before+1)
	})
	witness3.echo("still here")
	witness4.echo("still here")
}

// TestEIO4ForwardServesAnotherNodesSession: an Engine.IO 4 long-polling
// session works through a node that does not own it, as behind a balancer
// without affinity.
func TestEIO4ForwardServesAnotherNodesSession(t *testing.T) {
	a, b, reg := cluster(t)
	c, _ := a.handshake4(t)
	viaB := &poll4{t: t, h: b, sid: c.sid}
	if status, body := viaB.post("40"); status != http.StatusOK {
		t.Fatalf("CONNECT through B: %d %q", status, body)
	}
	if got := viaB.get(); len(got) != 1 || !strings.HasPrefix(got[0], `40{"sid":"`) {
		t.Fatalf("connect answer through B = %q", got)
	}
	viaB.echo("through b")
	if n := reg.count(ForwardOK); n != 4 {
		t.Errorf("forwarded ok = %d, want 4", n)
	}
	if a.srv.Count() != 1 || b.srv.Count() != 0 {
		t.Errorf("sessions A=%d B=%d, want the one session on A", a.srv.Count(), b.srv.Count())
	}
}

// TestEIO4ConnErr: Conn.Err tells how an Engine.IO 4 connection ended, as
// for Engine.IO 3: io.EOF for the client's CLOSE, ErrProtocol for bad input.
func TestEIO4ConnErr(t *testing.T) {
	h := newHarness(t, nil)
	p := h.connectPolling4(t)
	closed := <-h.conns
	p.post("1")
	eventually(t, 5*time.Second, "Err after CLOSE", func() bool { return errors.Is(closed.Err(), io.EOF) })
	c := h.connectWS4(t)
	bad := <-h.conns
	c.send("abc")
	c.expectClosed()
	eventually(t, 5*time.Second, "Err after bad input", func() bool { return errors.Is(bad.Err(), ErrProtocol) })
}

// TestEIO4WebsocketSessionRefusesPolling: a session opened on a websocket
// has no long-polling side (it holds no inbox for it), so a GET, a POST or a
// second websocket with its id is refused, and the socket carries on.
func TestEIO4WebsocketSessionRefusesPolling(t *testing.T) {
	h := newHarness(t, nil)
	c, open := h.dialWS4(t)
	c.send("40")
	if m := c.read(); !strings.HasPrefix(m, `40{"sid":"`) {
		t.Fatalf("connect answer = %q", m)
	}
	q := "EIO=4&transport=polling&sid=" + url.QueryEscape(open.SID)
	if resp, body := h.do(t, http.MethodGet, h.url(q), nil, ""); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET: %d %q, want 400", resp.StatusCode, body)
	}
	if resp, body := h.do(t, http.MethodPost, h.url(q), nil, `42["echo",1]`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST: %d %q, want 400", resp.StatusCode, body)
	}
	second, _, err := h.dialWS("EIO=4&transport=websocket&sid="+url.QueryEscape(open.SID), nil)
	if err == nil {
		if _, _, err := second.ReadMessage(); err == nil {
			t.Fatal("a second websocket for the session was served")
		}
		_ = second.Close()
	}
	c.echo("still here")
}
