package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// harness is a Server built from a Config on httptest: the same assembly the
// notifier does, with an "echo" call.
type harness struct {
	t     *testing.T
	cfg   Config
	srv   *Server
	ts    *httptest.Server
	hc    *http.Client
	conns chan Conn

	mu      sync.Mutex
	rejects map[string]int
	slow    atomic.Int64
	errs    atomic.Int64 // Handler.Error calls
	// disconnects counts Handler.Disconnect calls.
	disconnects atomic.Int64
}

// testPing keeps sessions of raw test clients (which do not ping) alive for
// the length of any one test; tests about expiry set their own.
const (
	testPingInterval = 5 * time.Second
	testPingTimeout  = 10 * time.Second
)

var errDenied = errors.New("denied")

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, conns: make(chan Conn, 64), rejects: map[string]int{}}
	cfg := Config{
		PingInterval: testPingInterval,
		PingTimeout:  testPingTimeout,
		OnReject: func(reason string) {
			h.mu.Lock()
			h.rejects[reason]++
			h.mu.Unlock()
		},
		OnSlow: func() { h.slow.Add(1) },
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	h.cfg = cfg
	srv, err := NewServer(cfg, Handler[Conn]{
		Connect: func(c Conn) Conn {
			select {
			case h.conns <- c:
			default:
			}
			return c
		},
		// An Engine.IO 4 client whose auth payload says "deny" is refused
		// with the reason "denied".
		Auth: func(_ Conn, auth json.RawMessage) error {
			if strings.Contains(string(auth), "deny") {
				return errDenied
			}
			return nil
		},
		Disconnect: func(Conn) { h.disconnects.Add(1) },
		Error:      func(error) { h.errs.Add(1) },
		Calls: map[string]func(Conn, json.RawMessage) json.RawMessage{
			"echo": func(_ Conn, msg json.RawMessage) json.RawMessage { return msg },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	go func() { _ = h.srv.Serve() }()

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", h.srv)
	h.ts = httptest.NewServer(mux)
	h.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(h.close)
	return h
}

// close shuts down in the order the notifier must: close our conns (which
// also releases long-poll GETs the HTTP server would wait for), stop HTTP,
// wait for the engine to drop its sessions, and only then close go-socket.io
// (it panics on a handshake that completes after its Close).
func (h *harness) close() {
	h.srv.CloseAll()
	h.hc.CloseIdleConnections()
	h.ts.Close()
	h.srv.CloseAll()
	eventually(h.t, 10*time.Second, "sessions gone before server close", func() bool { return h.srv.Count() == 0 })
	_ = h.srv.Close()
}

// waitRejected waits for OnReject(reason) to have been called n times: a
// client may see its connection closed a moment before the server counts.
func (h *harness) waitRejected(t *testing.T, reason string, n int) {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("%d %q rejects", n, reason), func() bool { return h.rejected(reason) >= n })
	if got := h.rejected(reason); got != n {
		t.Errorf("%q rejects = %d, want %d", reason, got, n)
	}
}

func (h *harness) rejected(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rejects[reason]
}

// eventually polls cond until it holds or the time is up: a settle loop, not
// a fixed sleep.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) url(query string) string {
	return h.ts.URL + "/socket.io/?" + query
}

func (h *harness) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(h.ts.URL, "http") + "/socket.io/?" + query
}

// --- websocket client ---

type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
	id int
}

func (h *harness) dialWS(query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial(h.wsURL(query), header)
}

// mustDialWS opens a websocket for the test, closed when it ends.
func (h *harness) mustDialWS(t *testing.T, query string) *wsClient {
	t.Helper()
	ws, resp, err := h.dialWS(query, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &wsClient{t: t, ws: ws}
}

// connectWS opens a socket.io connection over websocket and reads the
// Engine.IO open packet and the socket.io CONNECT.
func (h *harness) connectWS(t *testing.T) *wsClient {
	t.Helper()
	c := h.mustDialWS(t, "EIO=3&transport=websocket")
	if m := c.read(); !strings.HasPrefix(m, `0{"sid":"`) {
		t.Fatalf("open packet = %q", m)
	}
	if m := c.read(); m != "40" {
		t.Fatalf("connect packet = %q", m)
	}
	return c
}

func (c *wsClient) read() string {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// echo sends an "echo" event with an ack and expects the ack back.
func (c *wsClient) echo(msg string) {
	c.t.Helper()
	c.id++
	c.send(fmt.Sprintf(`42%d["echo",%q]`, c.id, msg))
	want := fmt.Sprintf(`43%d[%q]`, c.id, msg)
	if got := c.read(); got != want {
		c.t.Fatalf("echo ack = %q, want %q", got, want)
	}
}

// expectClosed reads until the server closes the connection.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			c.t.Fatalf("connection still open: %v", err)
		}
		return
	}
}

// --- polling client ---

type pollClient struct {
	t   *testing.T
	h   *harness
	sid string
	id  int
}

// handshake opens a polling session with text framing (b64=1) and returns
// its sid; it does not fetch the CONNECT packet.
func (h *harness) handshake(t *testing.T) *pollClient {
	t.Helper()
	resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1"), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}
	pkts := mustDecodePayload(t, body)
	if len(pkts) != 1 || !strings.HasPrefix(pkts[0], `0{"sid":"`) {
		t.Fatalf("handshake payload = %q", body)
	}
	sid := pkts[0][len(`0{"sid":"`):]
	sid = sid[:strings.IndexByte(sid, '"')]
	return &pollClient{t: t, h: h, sid: sid}
}

// connectPolling is a handshake plus the GET that fetches the CONNECT.
func (h *harness) connectPolling(t *testing.T) *pollClient {
	t.Helper()
	c := h.handshake(t)
	if pkts := c.get(); len(pkts) != 1 || pkts[0] != "40" {
		t.Fatalf("connect payload = %q", pkts)
	}
	return c
}

func (c *pollClient) query() string {
	return "EIO=3&transport=polling&b64=1&sid=" + url.QueryEscape(c.sid)
}

func (c *pollClient) get() []string {
	c.t.Helper()
	resp, body := c.h.do(c.t, http.MethodGet, c.h.url(c.query()), nil, "")
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("poll GET: %d %q", resp.StatusCode, body)
	}
	return mustDecodePayload(c.t, body)
}

// post sends packets in one text-framed body and returns the status.
func (c *pollClient) post(packets ...string) (int, string) {
	c.t.Helper()
	resp, body := c.h.do(c.t, http.MethodPost, c.h.url(c.query()), nil, encodeTextPayload(packets...))
	return resp.StatusCode, body
}

func (c *pollClient) echo(msg string) {
	c.t.Helper()
	c.id++
	pollEcho(c.t, c.id, msg, c.post, c.get)
}

// pollEcho POSTs an "echo" event with ack id and expects the ack from the
// next GET, on either protocol version's polling client.
func pollEcho(t *testing.T, id int, msg string, post func(...string) (int, string), get func() []string) {
	t.Helper()
	if status, body := post(fmt.Sprintf(`42%d["echo",%q]`, id, msg)); status != http.StatusOK {
		t.Fatalf("echo POST: %d %q", status, body)
	}
	want := fmt.Sprintf(`43%d[%q]`, id, msg)
	if got := get(); len(got) != 1 || got[0] != want {
		t.Fatalf("echo ack = %q, want %q", got, want)
	}
}

func (h *harness) do(t *testing.T, method, u string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if method == http.MethodPost && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s body: %v", method, err)
	}
	return resp, string(b)
}

// encodeTextPayload frames packets as Engine.IO 3 text payload:
// "<length>:<packet>" each. Our packets are ASCII, so bytes equal characters.
func encodeTextPayload(packets ...string) string {
	var b strings.Builder
	for _, p := range packets {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

func mustDecodePayload(t *testing.T, s string) []string {
	t.Helper()
	packets, err := decodeTextPayload([]byte(s))
	if err != nil {
		t.Fatalf("payload %q: %v", s, err)
	}
	out := make([]string, len(packets))
	for i, p := range packets {
		out[i] = strings.TrimSpace(string(p))
	}
	return out
}
