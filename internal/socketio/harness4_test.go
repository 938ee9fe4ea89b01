package socketio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// Engine.IO 4 test clients, written from the protocol documents.

// openInfo is the v4 OPEN packet's JSON.
type openInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

func parseOpen(t *testing.T, p string) openInfo {
	t.Helper()
	var o openInfo
	if !strings.HasPrefix(p, "0") || json.Unmarshal([]byte(p[1:]), &o) != nil || o.SID == "" {
		t.Fatalf("open packet = %q", p)
	}
	return o
}

// dialWS4 opens an Engine.IO 4 websocket and reads its OPEN packet.
func (h *harness) dialWS4(t *testing.T) (*wsClient, openInfo) {
	t.Helper()
	c := h.mustDialWS(t, "EIO=4&transport=websocket")
	return c, parseOpen(t, c.read())
}

// connectWS4 is dialWS4 plus the socket.io CONNECT exchange.
func (h *harness) connectWS4(t *testing.T) *wsClient {
	t.Helper()
	c, _ := h.dialWS4(t)
	c.send("40")
	if m := c.read(); !strings.HasPrefix(m, `40{"sid":"`) {
		t.Fatalf("connect answer = %q", m)
	}
	return c
}

func (c *wsClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// poll4 is an Engine.IO 4 long-polling client.
type poll4 struct {
	t   *testing.T
	h   *harness
	sid string
	id  int
}

func (h *harness) handshake4(t *testing.T) (*poll4, openInfo) {
	t.Helper()
	resp, body := h.do(t, http.MethodGet, h.url("EIO=4&transport=polling"), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}
	o := parseOpen(t, body)
	return &poll4{t: t, h: h, sid: o.SID}, o
}

// connectPolling4 is handshake4 plus the socket.io CONNECT exchange.
func (h *harness) connectPolling4(t *testing.T) *poll4 {
	t.Helper()
	c, _ := h.handshake4(t)
	if status, body := c.post("40"); status != http.StatusOK {
		t.Fatalf("CONNECT POST: %d %q", status, body)
	}
	if got := c.get(); len(got) != 1 || !strings.HasPrefix(got[0], `40{"sid":"`) {
		t.Fatalf("connect answer = %q", got)
	}
	return c
}

func (c *poll4) query() string { return "EIO=4&transport=polling&sid=" + url.QueryEscape(c.sid) }

func (c *poll4) get() []string {
	c.t.Helper()
	resp, body := c.h.do(c.t, http.MethodGet, c.h.url(c.query()), nil, "")
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("poll GET: %d %q", resp.StatusCode, body)
	}
	return strings.Split(body, "\x1e")
}

// post sends packets joined by the record separator.
func (c *poll4) post(packets ...string) (int, string) {
	c.t.Helper()
	resp, body := c.h.do(c.t, http.MethodPost, c.h.url(c.query()), nil, strings.Join(packets, "\x1e"))
	return resp.StatusCode, body
}

func (c *poll4) echo(msg string) {
	c.t.Helper()
	c.id++
	pollEcho(c.t, c.id, msg, c.post, c.get)
}
