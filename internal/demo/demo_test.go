package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/mux"
)

const testSecret = "demo-test-secret"

// fakePublish records every Publish call, in call order.
type fakePublish struct {
	mu    sync.Mutex
	calls []int64
	err   error
}

func (f *fakePublish) publish(_ context.Context, topic string, v int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if topic != Topic {
		return errors.New("unexpected topic " + topic)
	}
	f.calls = append(f.calls, v)
	return f.err
}

func (f *fakePublish) versions() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.calls...)
}

// newTestApp returns a server with the demo mounted, as the notifier does,
// and the fake its bumps publish through.
func newTestApp(t *testing.T, cfg Config) (*App, *httptest.Server, *fakePublish) {
	t.Helper()
	fp := &fakePublish{}
	if cfg.Publish == nil {
		cfg.Publish = fp.publish
	}
	if cfg.TokenSecret == "" {
		cfg.TokenSecret = testSecret
	}
	app := New(cfg)
	r := mux.NewRouter()
	app.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return app, srv, fp
}

func bump(t *testing.T, srv *httptest.Server, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/demo/api/bump", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func getBoard(t *testing.T, srv *httptest.Server) Snapshot {
	t.Helper()
	resp, err := http.Get(srv.URL + "/demo/api/board")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("board: status %d", resp.StatusCode)
	}
	var s Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestToken(t *testing.T) {
	now := time.Now()
	app, srv, _ := newTestApp(t, Config{Audience: "pushpoll"})
	app.now = func() time.Time { return now }

	resp, err := http.Get(srv.URL + "/demo/api/token")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}

	// Verified the way the notifier does: one algorithm, the audience, exp required.
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience("pushpoll"), jwt.WithExpirationRequired())
	_, err = parser.ParseWithClaims(string(raw), claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil })
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if sub, _ := claims.GetSubject(); !strings.HasPrefix(sub, "visitor-") {
		t.Errorf("sub %q, want a visitor id", sub)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatalf("exp: %v", err)
	}
	if got := exp.Sub(now.Truncate(time.Second)); got != 10*time.Minute {
		t.Errorf("exp is %v after now, want 10m", got)
	}
	topics, ok := claims["topics"].([]any)
	if !ok || len(topics) != 1 || topics[0] != Topic {
		t.Errorf("topics %#v, want [%q]", claims["topics"], Topic)
	}

	// Another secret must not verify it: the token really is signed.
	_, err = parser.ParseWithClaims(string(raw), jwt.MapClaims{}, func(*jwt.Token) (any, error) { return []byte("other"), nil })
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("verified with the wrong secret: %v", err)
	}
}

func TestTokenVisitorsDiffer(t *testing.T) {
	a, err := mintToken([]byte(testSecret), "pushpoll", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := mintToken([]byte(testSecret), "pushpoll", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sub := func(tok string) string {
		c := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
			t.Fatal(err)
		}
		s, _ := c.GetSubject()
		return s
	}
	if sub(a) == sub(b) {
		t.Errorf("two tokens share sub %q", sub(a))
	}
}

func TestTokenWithoutSecret(t *testing.T) {
	app := New(Config{})
	r := mux.NewRouter()
	app.Routes(r)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/demo/api/token", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Errorf("body %q, want a JSON error", rec.Body)
	}
}

func TestBump(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	app, srv, fp := newTestApp(t, Config{})
	app.now = func() time.Time { return now }

	resp, body := bump(t, srv, `{"card":"builds"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var reply bumpReply
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatal(err)
	}
	want := bumpReply{
		Card:      Card{ID: "builds", Title: "Builds", Count: 1, Version: 1, BumpedAt: now.UnixMilli()},
		Version:   1,
		Published: true,
		Now:       now.UnixMilli(),
	}
	if reply != want {
		t.Errorf("reply %+v, want %+v", reply, want)
	}
	if got := fp.versions(); len(got) != 1 || got[0] != 1 {
		t.Errorf("Publish calls %v, want [1]", got)
	}

	bump(t, srv, `{"card":"builds"}`)
	bump(t, srv, `{"card":"alerts"}`)
	s := getBoard(t, srv)
	if s.Version != 3 {
		t.Errorf("board version %d, want 3", s.Version)
	}
	for _, c := range s.Cards {
		switch c.ID {
		case "builds":
			if c.Count != 2 || c.Version != 2 {
				t.Errorf("builds %+v, want count 2 at version 2", c)
			}
		case "alerts":
			if c.Count != 1 || c.Version != 3 {
				t.Errorf("alerts %+v, want count 1 at version 3", c)
			}
		default:
			if c.Count != 0 || c.Version != 0 || c.BumpedAt != 0 {
				t.Errorf("untouched card changed: %+v", c)
			}
		}
	}
	if got := fp.versions(); len(got) != 3 || got[2] != 3 {
		t.Errorf("Publish calls %v, want [1 2 3]", got)
	}
}

func TestBumpPublishFails(t *testing.T) {
	fp := &fakePublish{err: errors.New("broker down")}
	_, srv, _ := newTestApp(t, Config{Publish: fp.publish})

	resp, body := bump(t, srv, `{"card":"deploys"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var reply bumpReply
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatal(err)
	}
	// The bump stands: other pages find it by polling.
	if reply.Published || reply.Version != 1 || reply.Card.Count != 1 {
		t.Errorf("reply %+v, want an unpublished bump to version 1", reply)
	}
	// The failed version is tried again with the next bump.
	fp.mu.Lock()
	fp.err = nil
	fp.mu.Unlock()
	bump(t, srv, `{"card":"deploys"}`)
	if got := fp.versions(); len(got) != 2 || got[1] != 2 {
		t.Errorf("Publish calls %v, want [1 2]", got)
	}
}

func TestBumpWithoutPublish(t *testing.T) {
	app := New(Config{TokenSecret: testSecret})
	r := mux.NewRouter()
	app.Routes(r)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/demo/api/bump", strings.NewReader(`{"card":"alerts"}`)))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"published":false`) {
		t.Errorf("status %d body %s, want an unpublished bump", rec.Code, rec.Body)
	}
}

func TestBumpErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"unknown card", `{"card":"nope"}`, http.StatusNotFound},
		{"empty body", ``, http.StatusBadRequest},
		{"not JSON", `card=deploys`, http.StatusBadRequest},
		{"not an object", `["deploys"]`, http.StatusBadRequest},
		{"card not a string", `{"card":7}`, http.StatusBadRequest},
		{"no card", `{}`, http.StatusBadRequest},
		{"two objects", `{"card":"deploys"}{"card":"deploys"}`, http.StatusBadRequest},
		{"too large", `{"card":"` + strings.Repeat("x", 2<<10) + `"}`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv, fp := newTestApp(t, Config{})
			resp, body := bump(t, srv, tc.body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("body %q, want {\"error\":…}", body)
			}
			if got := fp.versions(); len(got) != 0 {
				t.Errorf("Publish called %v for a refused bump", got)
			}
			if v := getBoard(t, srv).Version; v != 0 {
				t.Errorf("board version %d after a refused bump, want 0", v)
			}
		})
	}
}

func TestConcurrentBumps(t *testing.T) {
	_, srv, fp := newTestApp(t, Config{})
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			card := startCards[i%len(startCards)].ID
			resp, body := bump(t, srv, `{"card":"`+card+`"}`)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()

	calls := fp.versions()
	if len(calls) == 0 || calls[len(calls)-1] != n {
		t.Fatalf("Publish calls %v, want the last at %d", calls, n)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] <= calls[i-1] {
			t.Fatalf("Publish versions not strictly increasing at %d: %v", i, calls)
		}
	}
	s := getBoard(t, srv)
	var total int64
	for _, c := range s.Cards {
		total += c.Count
	}
	if s.Version != n || total != n {
		t.Errorf("board version %d with %d bumps counted, want %d and %d", s.Version, total, n, n)
	}
}

func TestBoardShape(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	app, srv, _ := newTestApp(t, Config{})
	app.now = func() time.Time { return now }
	bump(t, srv, `{"card":"tickets"}`)

	resp, err := http.Get(srv.URL + "/demo/api/board")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store so polls reach the app", cc)
	}
	// Decoded generically, so the field names the page relies on are checked.
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != 1.0 || got["now"] != float64(now.UnixMilli()) {
		t.Errorf("version %v now %v, want 1 and %d", got["version"], got["now"], now.UnixMilli())
	}
	cards, ok := got["cards"].([]any)
	if !ok || len(cards) != len(startCards) {
		t.Fatalf("cards %#v, want %d cards", got["cards"], len(startCards))
	}
	for i, c := range cards {
		card := c.(map[string]any)
		for _, key := range []string{"id", "title", "count", "version", "bumpedAt"} {
			if _, ok := card[key]; !ok {
				t.Errorf("card %d lacks %q: %v", i, key, card)
			}
		}
		if card["id"] != startCards[i].ID {
			t.Errorf("card %d is %v, want %s (display order)", i, card["id"], startCards[i].ID)
		}
		if card["id"] == "tickets" && (card["count"] != 1.0 || card["bumpedAt"] != float64(now.UnixMilli())) {
			t.Errorf("tickets %v, want count 1 bumped at %d", card, now.UnixMilli())
		}
	}
}

func TestPageAndAssets(t *testing.T) {
	_, srv, _ := newTestApp(t, Config{Fast: 2 * time.Second, Slow: 30 * time.Second})
	tests := []struct {
		path, contentType string
		contains          []string
	}{
		{"/", "text/html; charset=utf-8", []string{
			`src="/pushpoll.js"`, `src="/demo/app.js"`, `href="/demo/style.css"`,
			`data-fast="2000"`, `data-slow="30000"`,
			`id="mode"`, `id="polls"`, `id="pure-polls"`, `id="hints"`, `id="staleness"`,
		}},
		{"/demo/app.js", "text/javascript; charset=utf-8", []string{"PushPoll.start", "/demo/api/token", "data-count", "data-card"}},
		{"/demo/style.css", "text/css; charset=utf-8", []string{".card"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("%s lacks %q", tc.path, s)
				}
			}
			// Offline by construction: nothing is loaded from another origin.
			for _, s := range []string{"http://", "https://", "//fonts", "cdn"} {
				if strings.Contains(strings.ToLower(string(body)), s) {
					t.Errorf("%s refers to %q", tc.path, s)
				}
			}

			// Revalidation answers 304 without a body.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			again, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: status %d, want 304", again.StatusCode)
			}
		})
	}
}

func TestPageHeaders(t *testing.T) {
	_, srv, _ := newTestApp(t, Config{})
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q does not keep scripts to the page's origin", csp)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	app := New(Config{TokenSecret: testSecret})
	r := mux.NewRouter()
	app.Routes(r)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodGet, "/demo/api/bump", http.StatusMethodNotAllowed},
		{http.MethodPost, "/demo/api/board", http.StatusMethodNotAllowed},
		{http.MethodPost, "/demo/api/token", http.StatusMethodNotAllowed},
		// "/" is the page only, not a catch-all over the notifier's paths.
		{http.MethodGet, "/nope", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	app := New(Config{})
	if app.cfg.Audience != "pushpoll" || app.cfg.Fast != 5*time.Second || app.cfg.Slow != 60*time.Second {
		t.Errorf("defaults %+v", app.cfg)
	}
	if got := seconds(1500 * time.Millisecond); got != "1.5 s" {
		t.Errorf("seconds(1.5s) = %q", got)
	}
}
