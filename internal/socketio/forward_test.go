package socketio

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// peers is a hand-written node registry: node id -> advertised URL.
type peers struct {
	mu       sync.Mutex
	addr     map[string]string
	asked    []string
	forwards map[string]int
}

func newPeers() *peers { return &peers{addr: map[string]string{}, forwards: map[string]int{}} }

func (p *peers) lookup(_ context.Context, node string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, node)
	if a, ok := p.addr[node]; ok {
		return a, nil
	}
	return "", fmt.Errorf("node %s: %w", node, ErrUnknownPeer)
}

func (p *peers) set(node, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addr[node] = addr
}

func (p *peers) onForward(result string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forwards[result]++
}

func (p *peers) count(result string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forwards[result]
}

// cluster is two nodes sharing one registry, as two notifiers on one Redis,
// that allow the origin https://app.example.
func cluster(t *testing.T) (a, b *harness, reg *peers) {
	return clusterFor(t, []string{"https://app.example"})
}

func clusterFor(t *testing.T, origins []string) (a, b *harness, reg *peers) {
	t.Helper()
	reg = newPeers()
	node := func() *harness {
		id := NewNodeID()
		h := newHarness(t, func(c *Config) {
			c.NodeID, c.Peer, c.OnForward = id, reg.lookup, reg.onForward
			c.AllowedOrigins = origins
		})
		reg.set(id, h.ts.URL)
		return h
	}
	return node(), node(), reg
}

// via is c's session reached through another node, as a balancer without
// affinity would send its requests.
func (c *pollClient) via(h *harness) *pollClient {
	return &pollClient{t: c.t, h: h, sid: c.sid, id: c.id}
}

func TestForwardServesAnotherNodesSession(t *testing.T) {
	a, b, reg := cluster(t)
	c := a.handshake(t)
	// Every request after the handshake lands on B: CONNECT, then events
	// both ways, all served by the session on A.
	viaB := c.via(b)
	if pkts := viaB.get(); len(pkts) != 1 || pkts[0] != "40" {
		t.Fatalf("connect through B = %q", pkts)
	}
	viaB.echo("through b")
	// Mixed: the POST on A, the GET through B.
	c.id = viaB.id
	c.id++
	if status, body := c.post(fmt.Sprintf(`42%d["echo","mixed"]`, c.id)); status != http.StatusOK {
		t.Fatalf("POST on A: %d %q", status, body)
	}
	if got := viaB.get(); len(got) != 1 || got[0] != fmt.Sprintf(`43%d["mixed"]`, c.id) {
		t.Fatalf("ack through B = %q", got)
	}
	if n := reg.count(ForwardOK); n != 4 {
		t.Errorf("forwarded ok = %d, want 4 (2 GETs and a POST for the echo, 1 GET for the ack)", n)
	}
	if a.srv.Count() != 1 || b.srv.Count() != 0 {
		t.Errorf("sessions A=%d B=%d, want the one session on A", a.srv.Count(), b.srv.Count())
	}
}

func TestForwardCORSOnce(t *testing.T) {
	a, b, _ := cluster(t)
	c := a.handshake(t) // the CONNECT is queued: the GET answers at once
	hdr := http.Header{"Origin": {"https://app.example"}}
	resp, _ := b.do(t, http.MethodGet, b.url(c.query()), hdr, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forwarded GET: %d", resp.StatusCode)
	}
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q, want it once", got)
	}
	// A foreign Origin is refused by the first node, before any lookup.
	resp, _ = b.do(t, http.MethodGet, b.url(c.query()), http.Header{"Origin": {"https://evil.example"}}, "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin through B: %d, want 403", resp.StatusCode)
	}
}

// TestForwardSameOriginBehindTLS: behind a balancer that terminates TLS,
// the owner still sees the scheme the browser used.
func TestForwardSameOriginBehindTLS(t *testing.T) {
	a, b, _ := clusterFor(t, nil)
	c := a.handshake(t)
	req, err := http.NewRequest(http.MethodGet, b.url(c.query()), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "push.example"
	req.Header.Set("Origin", "https://push.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin https page through another node: %d, want 200", resp.StatusCode)
	}
}

// trap is a listener that counts the connections it is sent: an address a
// client would like a node to dial.
func trap(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

func TestForwardRefusals(t *testing.T) {
	a, b, reg := cluster(t)
	trapAddr, trapped := trap(t)
	c := a.connectPolling(t)
	unregistered := NewNodeID() + c.sid[NodeIDLen:]

	// A node that stopped: advertised at an address nothing listens on.
	gone := NewNodeID()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	reg.set(gone, "http://"+ln.Addr().String())
	ln.Close()

	cases := []struct {
		name   string
		sid    string
		ws     bool
		header http.Header
		status int
		result string
	}{
		{"unregistered node", unregistered, false, nil, http.StatusBadRequest, ForwardUnknownNode},
		{"owner gone", gone + c.sid[NodeIDLen:], false, nil, http.StatusBadGateway, ForwardUnreachable},
		{"already forwarded", c.sid, false, http.Header{ForwardedHeader: {"x"}}, http.StatusBadRequest, ForwardUnknownNode},
		{"client asks for another host", unregistered, false, http.Header{"X-Forwarded-Host": {trapAddr}, "Forwarded": {"host=" + trapAddr}}, http.StatusBadRequest, ForwardUnknownNode},
		{"upgrade to another node's session", c.sid, true, nil, http.StatusBadRequest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := reg.count(tc.result)
			var status int
			if tc.ws {
				_, resp, err := b.dialWS("EIO=3&transport=websocket&sid="+tc.sid, nil)
				if err == nil {
					t.Fatal("upgrade accepted")
				}
				status = resp.StatusCode
			} else {
				resp, _ := b.do(t, http.MethodGet, b.url("EIO=3&transport=polling&b64=1&sid="+tc.sid), tc.header, "")
				status = resp.StatusCode
			}
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if tc.result != "" && reg.count(tc.result) != before+1 {
				t.Errorf("%q outcomes: %d, want %d", tc.result, reg.count(tc.result), before+1)
			}
		})
	}
	if n := trapped.Load(); n != 0 {
		t.Errorf("the client's address was dialled %d times", n)
	}
	if b.rejected("wrong node") != 1 {
		t.Errorf("wrong node rejects = %d, want 1", b.rejected("wrong node"))
	}
}

// TestForwardHostIsNotTheTarget: the Host a client sends travels to the
// owner (its origin check needs it), but the connection goes to the
// advertised address only.
func TestForwardHostIsNotTheTarget(t *testing.T) {
	a, b, _ := cluster(t)
	trapAddr, trapped := trap(t)
	c := a.handshake(t)
	req, err := http.NewRequest(http.MethodGet, b.url(c.via(b).query()), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = trapAddr
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("forwarded with a foreign Host: %d, want 200 from the owner", resp.StatusCode)
	}
	if n := trapped.Load(); n != 0 {
		t.Errorf("the Host's address was dialled %d times", n)
	}
}

func TestForwardBodyLimit(t *testing.T) {
	a, b, _ := cluster(t)
	c := a.connectPolling(t)
	big := `42["echo","` + strings.Repeat("x", int(defaultMaxPollBody)) + `"]`
	status, _ := c.via(b).post(big)
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized POST through B: %d, want 413", status)
	}
}

func TestForwardWithoutPeers(t *testing.T) {
	a := newHarness(t, nil)
	b := newHarness(t, func(c *Config) { c.NodeID = NewNodeID() })
	c := a.handshake(t)
	resp, body := b.do(t, http.MethodGet, b.url(c.via(b).query()), nil, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown session") {
		t.Errorf("another node's sid without a registry: %d %q, want 400 unknown session", resp.StatusCode, body)
	}
}
