package socketio

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGuardOrigin(t *testing.T) {
	const app = "https://app.example.com"
	tests := []struct {
		name    string
		allowed []string
		origin  string // "self" means the test server's own origin
		pass    bool
	}{
		{"no origin passes by default", nil, "", true},
		{"same origin passes by default", nil, "self", true},
		{"foreign origin refused by default", nil, "https://evil.example", false},
		{"null origin refused by default", nil, "null", false},
		{"listed origin passes", []string{app}, app, true},
		{"listed origin matches despite case and default port", []string{app}, "HTTPS://App.Example.com:443", true},
		{"unlisted origin refused", []string{app}, "https://evil.example", false},
		{"scheme matters", []string{app}, "http://app.example.com", false},
		{"own origin refused when a list is set", []string{app}, "self", false},
		{"no origin passes with a list", []string{app}, "", true},
		{"any origin with star", []string{"*"}, "https://whoever.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.AllowedOrigins = tt.allowed })
			origin := tt.origin
			if origin == "self" {
				origin = h.ts.URL
			}
			header := http.Header{}
			if origin != "" {
				header.Set("Origin", origin)
			}

			// Polling handshake.
			before := h.srv.Count()
			resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1"), header, "")
			if tt.pass {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("polling: status %d %q, want 200", resp.StatusCode, body)
				}
				if origin != "" {
					if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
						t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, origin)
					}
					if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
						t.Errorf("Access-Control-Allow-Credentials = %q", got)
					}
				} else if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("CORS header %q sent to a request without Origin", got)
				}
			} else {
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("polling: status %d, want 403", resp.StatusCode)
				}
				if strings.Contains(body, "sid") {
					t.Errorf("refused handshake leaked a session: %q", body)
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("CORS header %q sent to a refused origin", got)
				}
				// A session is added asynchronously; a handshake that passes
				// afterwards must bring the count to exactly one more.
				h.handshake(t)
				eventually(t, 5*time.Second, "the allowed handshake counted", func() bool { return h.srv.Count() >= before+1 })
				if n := h.srv.Count(); n != before+1 {
					t.Fatalf("Count() = %d after a refused and an allowed handshake, want %d", n, before+1)
				}
				if h.rejected("origin") != 1 {
					t.Errorf("origin rejects = %d, want 1", h.rejected("origin"))
				}
			}
			if vary := resp.Header.Values("Vary"); !contains(vary, "Origin") {
				t.Errorf("Vary = %q, want Origin", vary)
			}

			// Websocket handshake, same decision.
			ws, resp, err := h.dialWS("EIO=3&transport=websocket", header)
			if tt.pass {
				if err != nil {
					t.Fatalf("websocket: %v", err)
				}
				_ = ws.Close()
			} else {
				if err == nil {
					_ = ws.Close()
					t.Fatal("websocket from a refused origin connected")
				}
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("websocket: resp %v, want 403", resp)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestGuardPreflight(t *testing.T) {
	const app = "https://app.example.com"
	h := newHarness(t, func(c *Config) { c.AllowedOrigins = []string{app} })
	tests := []struct {
		name   string
		origin string
		status int
		cors   bool
	}{
		{"allowed origin", app, http.StatusNoContent, true},
		{"foreign origin", "https://evil.example", http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.srv.Count()
			header := http.Header{"Origin": {tt.origin}, "Access-Control-Request-Method": {"POST"}}
			resp, _ := h.do(t, http.MethodOptions, h.url("EIO=3&transport=polling"), header, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			got := resp.Header.Get("Access-Control-Allow-Origin")
			if tt.cors && (got != tt.origin || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST")) {
				t.Errorf("preflight headers = %v", resp.Header)
			}
			if !tt.cors && got != "" {
				t.Errorf("Access-Control-Allow-Origin = %q for a refused origin", got)
			}
			if n := h.srv.Count(); n != before {
				t.Errorf("preflight changed Count() from %d to %d", before, n)
			}
		})
	}
}

func TestGuardRefusals(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		method string
		query  string
		status int
		reason string
	}{
		{"jsonp", http.MethodGet, "EIO=3&transport=polling&j=0", http.StatusBadRequest, "jsonp"},
		{"jsonp with script", http.MethodGet, "EIO=3&transport=polling&j=alert(document.domain)//", http.StatusBadRequest, "jsonp"},
		{"jsonp empty", http.MethodGet, "EIO=3&transport=polling&j=", http.StatusBadRequest, "jsonp"},
		{"EIO 5", http.MethodGet, "EIO=5&transport=polling", http.StatusBadRequest, reasonUnsupported},
		{"EIO 2", http.MethodGet, "EIO=2&transport=websocket", http.StatusBadRequest, reasonUnsupported},
		{"EIO abc", http.MethodGet, "EIO=abc&transport=polling", http.StatusBadRequest, reasonUnsupported},
		{"EIO missing", http.MethodGet, "transport=polling", http.StatusBadRequest, reasonUnsupported},
		{"EIO 4 unknown transport", http.MethodGet, "EIO=4&transport=flashsocket", http.StatusBadRequest, "bad transport"},
		{"EIO 4 handshake by POST", http.MethodPost, "EIO=4&transport=polling", http.StatusBadRequest, "bad transport"},
		{"EIO 4 PUT", http.MethodPut, "EIO=4&transport=polling", http.StatusBadRequest, "bad transport"},
		{"EIO 4 malformed sid", http.MethodGet, "EIO=4&transport=polling&sid=<script>", http.StatusBadRequest, "bad transport"},
		{"unknown transport", http.MethodGet, "EIO=3&transport=flashsocket", http.StatusBadRequest, "bad transport"},
		{"websocket without upgrade", http.MethodGet, "EIO=3&transport=websocket", http.StatusBadRequest, "bad transport"},
		{"handshake by POST", http.MethodPost, "EIO=3&transport=polling", http.StatusBadRequest, "bad transport"},
		{"PUT", http.MethodPut, "EIO=3&transport=polling", http.StatusMethodNotAllowed, "bad transport"},
		{"malformed sid", http.MethodGet, "EIO=3&transport=polling&sid=<script>", http.StatusBadRequest, "bad transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.rejected(tt.reason)
			resp, body := h.do(t, tt.method, h.url(tt.query), nil, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "javascript") {
				t.Errorf("Content-Type = %q", ct)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "alert") {
				t.Errorf("body reflects the request: %q", body)
			}
			if got := h.rejected(tt.reason); got != before+1 {
				t.Errorf("%q rejects = %d, want %d", tt.reason, got, before+1)
			}
			// Engine.IO 4 and unsupported versions get the JSON error
			// body a socket.io 4 client understands.
			if !strings.Contains(tt.query, "EIO=3") {
				var e struct {
					Code    *int   `json:"code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code == nil || e.Message == "" {
					t.Errorf("body %q is not an Engine.IO error", body)
				}
				if tt.reason == reasonUnsupported && (e.Code == nil || *e.Code != eioUnsupported) {
					t.Errorf("body %q, want code %d", body, eioUnsupported)
				}
			}
		})
	}
	if n := h.srv.Count(); n != 0 {
		t.Errorf("refused requests created %d sessions", n)
	}
}

// TestGuardJSONPOnSession: JSONP is refused on an existing session too, where
// the library would reflect j into text/javascript.
func TestGuardJSONPOnSession(t *testing.T) {
	h := newHarness(t, nil)
	p := h.connectPolling(t)
	resp, body := h.do(t, http.MethodGet, h.url(p.query()+"&j=alert(1)//"), nil, "")
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Content-Type"), "javascript") || strings.Contains(body, "alert") {
		t.Fatalf("status %d, type %q, body %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	p.echo("still fine")
}

func TestGuardMaxSockets(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSockets = 1 })
	first := h.connectWS(t)
	eventually(t, 5*time.Second, "first socket counted", func() bool { return h.srv.Count() == 1 })

	resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1"), nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "full") {
		t.Fatalf("polling: %d %q, want 503 full", resp.StatusCode, body)
	}
	if _, resp, err := h.dialWS("EIO=3&transport=websocket", nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("websocket: err %v, want 503", err)
	}
	h.waitRejected(t, "full", 2)
	first.echo("unaffected")
}

func TestGuardDraining(t *testing.T) {
	var draining atomic.Bool
	h := newHarness(t, func(c *Config) { c.Draining = draining.Load })
	ws := h.connectWS(t)
	poll := h.connectPolling(t)
	draining.Store(true)

	resp, body := h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&b64=1"), nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Fatalf("polling handshake while draining: %d %q", resp.StatusCode, body)
	}
	if _, resp, err := h.dialWS("EIO=3&transport=websocket", nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("websocket handshake while draining: err %v", err)
	}
	h.waitRejected(t, "draining", 2)
	// Existing sessions keep working on both transports.
	ws.echo("still here")
	poll.echo("still here")
}

func TestGuardPollBodyTooLarge(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxFrameBytes, c.MaxPollBody = 512, 1<<10 })
	p := h.connectPolling(t)
	status, _ := p.post(strings.Repeat("2", 2<<10))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
	h.waitRejected(t, "body too large", 1)
	eventually(t, 5*time.Second, "session removed", func() bool { return h.srv.Count() == 0 })
}

// TestGuardLogs: a flood of bad requests logs a bounded number of lines, and
// none carries the URL, cookies or auth headers.
func TestGuardLogs(t *testing.T) {
	var buf lockedBuffer
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	header := http.Header{
		"Cookie":        {"session=secret-cookie"},
		"Authorization": {"Bearer secret-token"},
		"Origin":        {"https://evil.example"},
	}
	for range 50 {
		h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&token=secret-query"), header, "")
		h.do(t, http.MethodGet, h.url("EIO=3&transport=polling&j=1&token=secret-query"), nil, "")
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d log lines for 100 refusals of 2 kinds, want 2:\n%s", n, out)
	}
	for _, secret := range []string{"secret-cookie", "secret-token", "secret-query", "/socket.io/"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" = valid
	}{
		{"zero value", Config{}, ""},
		{"ping timeout not above interval", Config{PingInterval: 10 * time.Second, PingTimeout: 10 * time.Second}, "PingTimeout"},
		{"only interval raised past default timeout", Config{PingInterval: 30 * time.Second}, "PingTimeout"},
		{"max sockets without counter", Config{MaxSockets: 10}, "Sockets"},
		{"negative max sockets", Config{MaxSockets: -1}, "MaxSockets"},
		{"poll body smaller than a frame", Config{MaxFrameBytes: 1 << 20}, "MaxPollBody"},
		{"bad origin", Config{AllowedOrigins: []string{"app.example.com"}}, "AllowedOrigins"},
		{"origin with path", Config{AllowedOrigins: []string{"https://app.example.com/x"}}, "AllowedOrigins"},
		{"good origins", Config{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000/", "*"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an ErrConfig naming %s", err, tt.field)
			}
		})
	}
}

// Same origin means the same scheme too: an https page is not the origin
// of an http listener, nor an http page of one whose Host says :443.
func TestSameOriginIsSchemeAware(t *testing.T) {
	o, err := parseOrigins(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, origin, host string
		tls                bool
		forwardedProto     string
		pass               bool
	}{
		{"http page, http listener", "http://app:8080", "app:8080", false, "", true},
		{"https page, http listener", "https://app:8080", "app:8080", false, "", false},
		{"http page, Host with :443", "http://app", "app:443", false, "", false},
		{"https page, TLS listener", "https://app", "app", true, "", true},
		{"https page, TLS listener, Host with :443", "https://app", "app:443", true, "", true},
		{"http page, TLS listener", "http://app", "app", true, "", false},
		{"https page behind a TLS-terminating proxy", "https://app", "app", false, "https", true},
		{"http page behind a proxy that says https", "http://app", "app", false, "https", false},
		{"proxy chain", "https://app", "app", false, "https, http", true},
		{"other host", "http://evil:8080", "app:8080", false, "", false},
		{"no Host", "http://app", "", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/socket.io/", nil)
			r.Host = tt.host
			r.Header.Set("Origin", tt.origin)
			if tt.forwardedProto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.forwardedProto)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := o.allowed(r); got != tt.pass {
				t.Errorf("allowed = %v, want %v", got, tt.pass)
			}
		})
	}
}
