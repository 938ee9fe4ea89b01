package notifier_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

func disconnects(t testing.TB, n *node, reason string) float64 {
	return metricValue(t, n, `pushpoll_disconnects_total{reason="`+reason+`"}`)
}

// rawSocket opens a websocket and reads up to the socket.io CONNECT, then
// sends nothing: no pings, unless the test writes.
func rawSocket(t *testing.T, n *node) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.url, "http")+"/socket.io/?EIO=3&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	for range 2 { // Engine.IO open, socket.io CONNECT
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	readMode(t, ws)
	return ws
}

// readMode reads the mode event the node writes after the CONNECT. A socket
// is ended only once it has been read, so that no write of the node's can
// find the socket gone before its read does (that would be a write_error).
func readMode(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), `42["mode"`) {
		t.Fatalf("message after the CONNECT %q, %v: want the mode", m, err)
	}
}

// Each way a real client can end its socket lands on its own reason, and
// every reason is exported at zero before its first close.
func TestDisconnectReasons(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval, cfg.PingTimeout = time.Second, 2*time.Second
	cfg.MaxFrameBytes = 256
	n := startNode(t, cfg)
	for _, r := range []string{"client_closed", "ping_timeout", "slow", "write_error", "transport_error", "protocol_error", "drain", "server_shutdown", "cap", "never_subscribed", "server_closed"} {
		if got := metric(t, n, `pushpoll_disconnects_total{reason="`+r+`"}`); got == "" {
			t.Errorf("reason %s not exported before its first close", r)
		}
	}
	if got := metric(t, n, `pushpoll_handshakes_total{transport="polling"}`); got == "" {
		t.Error("handshakes by transport not exported at zero")
	}

	t.Run("client_closed", func(t *testing.T) {
		for _, transport := range []string{"websocket", "polling"} {
			before := disconnects(t, n, "client_closed")
			c := dial(t, n, sioclient.Options{Transport: transport})
			// As readMode: closed once the node has written the mode.
			waitFor(t, 10*time.Second, transport+" mode", func() bool { return c.lastMode() != "" })
			c.Close()
			waitFor(t, 10*time.Second, transport+" close counted", func() bool { return disconnects(t, n, "client_closed") == before+1 })
		}
		ws := rawSocket(t, n)
		before := disconnects(t, n, "client_closed")
		must(t, ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "")))
		waitFor(t, 10*time.Second, "websocket close frame counted", func() bool { return disconnects(t, n, "client_closed") == before+1 })
	})
	t.Run("ping_timeout", func(t *testing.T) {
		rawSocket(t, n)
		waitFor(t, 20*time.Second, "silent socket dropped", func() bool { return disconnects(t, n, "ping_timeout") == 1 })
	})
	t.Run("protocol_error", func(t *testing.T) {
		ws := rawSocket(t, n)
		must(t, ws.WriteMessage(websocket.TextMessage, []byte(`42["subscribe","`+strings.Repeat("x", 512)+`"]`)))
		waitFor(t, 10*time.Second, "oversize frame counted", func() bool { return disconnects(t, n, "protocol_error") == 1 })
		ws2 := rawSocket(t, n)
		must(t, ws2.WriteMessage(websocket.TextMessage, []byte(`42{"not":"an array"}`)))
		waitFor(t, 10*time.Second, "malformed event counted", func() bool { return disconnects(t, n, "protocol_error") == 2 })
	})
	t.Run("transport_error", func(t *testing.T) {
		ws := rawSocket(t, n)
		ws.UnderlyingConn().Close() // no close frame: the peer vanished
		waitFor(t, 10*time.Second, "vanished peer counted", func() bool { return disconnects(t, n, "transport_error") == 1 })
	})
	if got := disconnects(t, n, "server_closed"); got != 0 {
		t.Errorf("server_closed = %v: a close path did not record its reason", got)
	}
	if got := metricValue(t, n, `pushpoll_handshakes_total{transport="polling"}`); got != 1 {
		t.Errorf("polling handshakes = %v, want 1", got)
	}
}

// A socket that never subscribes is closed after --subscribe-timeout, with
// its own reason.
func TestDisconnectNeverSubscribed(t *testing.T) {
	cfg := testConfig()
	cfg.SubscribeTimeout = time.Second
	n := startNode(t, cfg)
	rawSocket(t, n)
	waitFor(t, 10*time.Second, "idle socket closed", func() bool { return disconnects(t, n, "never_subscribed") == 1 })
	if got := disconnects(t, n, "server_closed"); got != 0 {
		t.Errorf("server_closed = %v", got)
	}
}
