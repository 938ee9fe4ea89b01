package authbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeApp is the main app's authorize endpoint: it counts calls and records
// what the last one carried.
type fakeApp struct {
	*httptest.Server
	calls atomic.Int64

	mu     sync.Mutex
	cookie string
	authz  string
	asked  []string
	ctype  string
}

// newFakeApp serves handle after recording the request.
func newFakeApp(t *testing.T, handle http.HandlerFunc) *fakeApp {
	t.Helper()
	app := &fakeApp{}
	app.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.calls.Add(1)
		var body struct {
			Topics []string `json:"topics"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		app.mu.Lock()
		app.cookie, app.authz, app.asked = r.Header.Get("Cookie"), r.Header.Get("Authorization"), body.Topics
		app.ctype = r.Header.Get("Content-Type")
		app.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(app.Close)
	return app
}

// answer replies with a fixed status and body.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// sequence replies with each handler in turn, repeating the last.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(hs)-1)
		hs[i](w, r)
	}
}

func callbackAuth(t *testing.T, url string, cfg Config) Authorizer {
	t.Helper()
	cfg.CallbackURL = url
	return mustNew(t, cfg)
}

func TestCallbackForwardsCredentialAndHonoursAnswer(t *testing.T) {
	app := newFakeApp(t, answer(200, `{"topics":["project:42","user:7:*","*"],"ttl":300}`))
	a := callbackAuth(t, app.URL, Config{})

	req := Request{
		Topics:        []string{"project:42", "user:7:inbox", "project:9", "user:8:inbox"},
		Cookie:        "session=abc; theme=dark",
		Authorization: "Bearer app-token",
	}
	d := a.Authorize(context.Background(), req, t0)

	wantGranted := []string{"project:42", "user:7:inbox"}
	wantDenied := map[string]string{"project:9": "not authorized", "user:8:inbox": "not authorized"}
	if !reflect.DeepEqual(d.Granted, wantGranted) || !reflect.DeepEqual(d.Denied, wantDenied) {
		t.Errorf("Decision = %+v, want granted %q denied %q", d, wantGranted, wantDenied)
	}
	if want := t0.Add(300 * time.Second); !d.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", d.Expires, want)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if app.cookie != req.Cookie || app.authz != req.Authorization {
		t.Errorf("app saw Cookie %q Authorization %q, want %q %q", app.cookie, app.authz, req.Cookie, req.Authorization)
	}
	if !reflect.DeepEqual(app.asked, req.Topics) {
		t.Errorf("app was asked for %q, want %q", app.asked, req.Topics)
	}
	if app.ctype != "application/json" {
		t.Errorf("Content-Type = %q", app.ctype)
	}
}

func TestCallbackOmitsEmptyHeaders(t *testing.T) {
	var sawCookie, sawAuthz atomic.Bool
	app := newFakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		_, c := r.Header["Cookie"]
		_, a := r.Header["Authorization"]
		sawCookie.Store(c)
		sawAuthz.Store(a)
		answer(200, `{"topics":[]}`)(w, r)
	})
	a := callbackAuth(t, app.URL, Config{})
	a.Authorize(context.Background(), Request{Topics: []string{"x"}}, t0)
	if sawCookie.Load() || sawAuthz.Load() {
		t.Errorf("empty credentials were sent as headers (Cookie %v, Authorization %v)", sawCookie.Load(), sawAuthz.Load())
	}
}

func TestCallbackCache(t *testing.T) {
	type step struct {
		cookie  string
		topics  []string
		at      time.Duration // after t0
		granted []string
		calls   int64 // app calls so far
	}
	tests := []struct {
		name  string
		ttl   string
		steps []step
	}{
		{
			name: "second subscribe with other topics served from cache",
			ttl:  "300",
			steps: []step{
				{cookie: "s=1", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:2", "b:1"}, at: time.Minute, granted: []string{"a:2"}, calls: 1},
			},
		},
		{
			name: "another credential is asked for",
			ttl:  "300",
			steps: []step{
				{cookie: "s=1", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=2", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 2},
				{cookie: "s=1", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 2},
			},
		},
		{
			name: "ttl expiry asks again",
			ttl:  "300",
			steps: []step{
				{cookie: "s=1", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:1"}, at: 299 * time.Second, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:1"}, at: 300 * time.Second, granted: []string{"a:1"}, calls: 2},
				{cookie: "s=1", topics: []string{"a:1"}, at: 301 * time.Second, granted: []string{"a:1"}, calls: 2},
			},
		},
		{
			name: "ttl 0 lasts the default lifetime",
			ttl:  "0",
			steps: []step{
				{cookie: "s=1", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:1"}, at: 5*time.Minute - time.Second, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:1"}, at: 5 * time.Minute, granted: []string{"a:1"}, calls: 2},
			},
		},
		{
			name: "ttl above the cap is cut to an hour",
			ttl:  "86400",
			steps: []step{
				{cookie: "s=1", topics: []string{"a:1"}, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:1"}, at: time.Hour - time.Second, granted: []string{"a:1"}, calls: 1},
				{cookie: "s=1", topics: []string{"a:1"}, at: time.Hour, granted: []string{"a:1"}, calls: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newFakeApp(t, answer(200, `{"topics":["a:*"],"ttl":`+tt.ttl+`}`))
			a := callbackAuth(t, app.URL, Config{})
			for i, s := range tt.steps {
				d := a.Authorize(context.Background(), Request{Topics: s.topics, Cookie: s.cookie}, t0.Add(s.at))
				if !reflect.DeepEqual(d.Granted, s.granted) {
					t.Errorf("step %d: Granted = %q, want %q", i, d.Granted, s.granted)
				}
				if got := app.calls.Load(); got != s.calls {
					t.Errorf("step %d: app calls = %d, want %d", i, got, s.calls)
				}
			}
		})
	}
}

func TestCallbackLifetimeConfig(t *testing.T) {
	_, err := New(Config{CallbackURL: "http://app.example", CallbackDefaultTTL: 2 * time.Hour})
	if err == nil || !strings.Contains(err.Error(), "--auth-callback-ttl") {
		t.Fatalf("a default above the cap: err = %v, want one naming --auth-callback-ttl", err)
	}
}

func TestCallbackExpires(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		body string
		want time.Time
	}{
		{name: "ttl", body: `{"topics":["a:1"],"ttl":300}`, want: t0.Add(300 * time.Second)},
		{name: "fractional ttl", body: `{"topics":["a:1"],"ttl":1.5}`, want: t0.Add(1500 * time.Millisecond)},
		{name: "no ttl: the default lifetime", body: `{"topics":["a:1"]}`, want: t0.Add(5 * time.Minute)},
		{name: "negative ttl: the default lifetime", body: `{"topics":["a:1"],"ttl":-5}`, want: t0.Add(5 * time.Minute)},
		{name: "capped ttl", body: `{"topics":["a:1"],"ttl":1e300}`, want: t0.Add(time.Hour)},
		{name: "configured default", cfg: Config{CallbackDefaultTTL: time.Minute}, body: `{"topics":["a:1"]}`, want: t0.Add(time.Minute)},
		{name: "configured cap", cfg: Config{CallbackMaxTTL: 10 * time.Minute}, body: `{"topics":["a:1"],"ttl":3600}`, want: t0.Add(10 * time.Minute)},
		{name: "default within a small cap", cfg: Config{CallbackMaxTTL: time.Minute}, body: `{"topics":["a:1"]}`, want: t0.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newFakeApp(t, answer(200, tt.body))
			d := callbackAuth(t, app.URL, tt.cfg).Authorize(context.Background(), Request{Topics: []string{"a:1"}}, t0)
			if len(d.Granted) != 1 || !d.Expires.Equal(tt.want) {
				t.Errorf("Decision = %+v, want a:1 granted until %v", d, tt.want)
			}
		})
	}
}

func TestCallbackFailures(t *testing.T) {
	redirectTarget := newFakeApp(t, answer(200, `{"topics":["a:*"],"ttl":60}`))
	tests := []struct {
		name   string
		handle http.HandlerFunc
		want   string
	}{
		{name: "403", handle: answer(403, `{"error":"no"}`), want: "not authorized"},
		{name: "401", handle: answer(401, ``), want: "not authorized"},
		{name: "500", handle: answer(500, `oops`), want: "auth unavailable"},
		{name: "503", handle: answer(503, ``), want: "auth unavailable"},
		{name: "204", handle: answer(204, ``), want: "auth unavailable"},
		{name: "bad JSON", handle: answer(200, `{"topics":`), want: "auth unavailable"},
		{name: "topics of the wrong type", handle: answer(200, `{"topics":"a:1","ttl":60}`), want: "auth unavailable"},
		{name: "no topics", handle: answer(200, `{"ttl":60}`), want: "auth unavailable"},
		{name: "ttl of the wrong type", handle: answer(200, `{"topics":["a:1"],"ttl":"60"}`), want: "auth unavailable"},
		{name: "HTML login page", handle: answer(200, `<html>`), want: "auth unavailable"},
		{
			name: "redirect is not followed",
			handle: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, redirectTarget.URL, http.StatusFound)
			},
			want: "auth unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newFakeApp(t, tt.handle)
			d := callbackAuth(t, app.URL, Config{}).Authorize(context.Background(), Request{Topics: []string{"a:1", "a:2"}, Cookie: "s=1"}, t0)
			want := deniedAll(tt.want, "a:1", "a:2")
			if len(d.Granted) != 0 || !reflect.DeepEqual(d.Denied, want) {
				t.Errorf("Decision = %+v, want all denied %q", d, tt.want)
			}
		})
	}
	if n := redirectTarget.calls.Load(); n != 0 {
		t.Errorf("redirect target was called %d times", n)
	}
}

func TestCallbackRefusesHeaderInjection(t *testing.T) {
	app := newFakeApp(t, answer(200, `{"topics":["a:*"],"ttl":60}`))
	a := callbackAuth(t, app.URL, Config{})
	tests := []struct {
		name string
		req  Request
	}{
		{name: "cookie", req: Request{Topics: []string{"a:1"}, Cookie: "s=1\r\nX-Admin: 1"}},
		{name: "authorization", req: Request{Topics: []string{"a:1"}, Authorization: "Bearer x\nX-Admin: 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := a.Authorize(context.Background(), tt.req, t0)
			if d.Denied["a:1"] != "auth unavailable" {
				t.Errorf("Decision = %+v, want auth unavailable", d)
			}
		})
	}
	if n := app.calls.Load(); n != 0 {
		t.Errorf("app calls = %d, want 0", n)
	}
}

func TestCallbackFailuresNotCached(t *testing.T) {
	tests := []struct {
		name  string
		first http.HandlerFunc
	}{
		{name: "500 then 200", first: answer(500, ``)},
		{name: "403 then 200", first: answer(403, ``)},
		{name: "bad JSON then 200", first: answer(200, `nope`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newFakeApp(t, sequence(tt.first, answer(200, `{"topics":["a:1"],"ttl":300}`)))
			a := callbackAuth(t, app.URL, Config{})
			req := Request{Topics: []string{"a:1"}, Cookie: "s=1"}
			if d := a.Authorize(context.Background(), req, t0); len(d.Granted) != 0 {
				t.Fatalf("first Decision = %+v, want denied", d)
			}
			if d := a.Authorize(context.Background(), req, t0.Add(time.Second)); !reflect.DeepEqual(d.Granted, []string{"a:1"}) {
				t.Fatalf("second Decision = %+v, want a:1 granted", d)
			}
			if n := app.calls.Load(); n != 2 {
				t.Errorf("app calls = %d, want 2", n)
			}
		})
	}
}

func TestCallbackAppDownIsPrompt(t *testing.T) {
	app := httptest.NewServer(http.NotFoundHandler())
	url := app.URL
	app.Close()

	a := callbackAuth(t, url, Config{CallbackTimeout: 300 * time.Millisecond})
	start := time.Now()
	d := a.Authorize(context.Background(), Request{Topics: []string{"a:1"}, Cookie: "s=1"}, t0)
	elapsed := time.Since(start)
	if d.Denied["a:1"] != "auth unavailable" {
		t.Errorf("Decision = %+v, want auth unavailable", d)
	}
	if elapsed >= time.Second {
		t.Errorf("took %v with the app down, want well under 1s", elapsed)
	}
}

// slowApp answers only when released or when the client gives up.
func slowApp(t *testing.T) *fakeApp {
	release := make(chan struct{})
	app := newFakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		answer(200, `{"topics":["a:1"],"ttl":60}`)(w, r)
	})
	// Cleanups run last-in first-out: release the handlers before the
	// server's Close waits for them.
	t.Cleanup(func() { close(release) })
	return app
}

func TestCallbackSlowAppTimesOut(t *testing.T) {
	const timeout = 100 * time.Millisecond
	app := slowApp(t)
	a := callbackAuth(t, app.URL, Config{CallbackTimeout: timeout})

	start := time.Now()
	d := a.Authorize(context.Background(), Request{Topics: []string{"a:1"}, Cookie: "s=1"}, t0)
	elapsed := time.Since(start)
	if d.Denied["a:1"] != "auth unavailable" {
		t.Errorf("Decision = %+v, want auth unavailable", d)
	}
	// The upper bound is loose for busy test machines; a hang would take
	// the app's whole (unbounded) delay.
	if elapsed < timeout || elapsed >= time.Second {
		t.Errorf("took %v, want about the %v timeout", elapsed, timeout)
	}
}

func TestCallbackCallerCancelIsPrompt(t *testing.T) {
	app := slowApp(t)
	a := callbackAuth(t, app.URL, Config{CallbackTimeout: 10 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	d := a.Authorize(ctx, Request{Topics: []string{"a:1"}, Cookie: "s=1"}, t0)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("took %v after the caller's context ended", elapsed)
	}
	if d.Denied["a:1"] != "auth unavailable" {
		t.Errorf("Decision = %+v, want auth unavailable", d)
	}
}

func TestCallbackStormCostsOneCall(t *testing.T) {
	const clients = 500
	release := make(chan struct{})
	app := newFakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		answer(200, `{"topics":["project:*"],"ttl":60}`)(w, r)
	})
	a := callbackAuth(t, app.URL, Config{CallbackTimeout: 10 * time.Second})

	var started, done sync.WaitGroup
	started.Add(clients)
	granted := make([]bool, clients)
	for i := range clients {
		done.Go(func() {
			started.Done()
			req := Request{Topics: []string{fmt.Sprintf("project:%d", i)}, Cookie: "session=same"}
			d := a.Authorize(context.Background(), req, t0)
			granted[i] = len(d.Granted) == 1
		})
	}
	// Hold the app's answer until every client is on its way, so most of
	// them join the one flight rather than find the cache.
	started.Wait()
	close(release)
	done.Wait()

	if n := app.calls.Load(); n != 1 {
		t.Errorf("app calls = %d, want 1", n)
	}
	for i, ok := range granted {
		if !ok {
			t.Errorf("client %d was not granted its topic", i)
		}
	}
}

func TestCallbackCacheBounded(t *testing.T) {
	const capacity = 3
	app := newFakeApp(t, answer(200, `{"topics":["a:*"],"ttl":300}`))
	a := callbackAuth(t, app.URL, Config{CallbackCacheEntries: capacity})
	cb := a.(*bridge).callback

	for i := range 10 {
		a.Authorize(context.Background(), Request{Topics: []string{"a:1"}, Cookie: fmt.Sprintf("s=%d", i)}, t0)
		if n := cb.cache.len(); n > capacity {
			t.Fatalf("after %d credentials the cache holds %d, cap %d", i+1, n, capacity)
		}
	}
	before := app.calls.Load()
	a.Authorize(context.Background(), Request{Topics: []string{"a:1"}, Cookie: "s=9"}, t0)
	a.Authorize(context.Background(), Request{Topics: []string{"a:1"}, Cookie: "s=0"}, t0)
	if got := app.calls.Load() - before; got != 1 {
		t.Errorf("newest credential cached and oldest evicted: app calls = %d, want 1", got)
	}
}

func TestCredentialKey(t *testing.T) {
	tests := []struct {
		name       string
		a, b       [2]string
		wantSameAs bool
	}{
		{name: "same headers", a: [2]string{"c", "z"}, b: [2]string{"c", "z"}, wantSameAs: true},
		{name: "boundary moved", a: [2]string{"ab", "c"}, b: [2]string{"a", "bc"}},
		{name: "swapped", a: [2]string{"x", ""}, b: [2]string{"", "x"}},
		{name: "cookie differs", a: [2]string{"s=1", "t"}, b: [2]string{"s=2", "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same := credentialKey(tt.a[0], tt.a[1]) == credentialKey(tt.b[0], tt.b[1])
			if same != tt.wantSameAs {
				t.Errorf("keys equal = %v, want %v", same, tt.wantSameAs)
			}
		})
	}
}

// Two subscribes with one credential and different topics share a flight;
// the app, asked only about the first one's topics, answers for those. The
// second subscribe's topics are then asked about on their own, not denied
// unasked.
func TestCallbackJoinedFlightDecidesItsOwnTopics(t *testing.T) {
	release := make(chan struct{})
	var app *fakeApp
	app = newFakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		// An app that answers for exactly the topics it was asked about.
		app.mu.Lock()
		asked, _ := json.Marshal(app.asked)
		app.mu.Unlock()
		answer(200, `{"topics":`+string(asked)+`,"ttl":60}`)(w, r)
	})
	a := callbackAuth(t, app.URL, Config{CallbackTimeout: 10 * time.Second})
	waiting := make(chan struct{}, 2)
	a.(*bridge).callback.waiting = func() { waiting <- struct{}{} }

	decided := make(chan Decision, 2)
	authorize := func(topic string) {
		go func() {
			decided <- a.Authorize(context.Background(), Request{Topics: []string{topic}, Cookie: "s=1"}, t0)
		}()
		<-waiting
	}
	authorize("a:1")
	authorize("b:1") // joins the flight that asks about a:1
	close(release)
	granted := map[string]bool{}
	for range 2 {
		for _, topic := range (<-decided).Granted {
			granted[topic] = true
		}
	}
	if !granted["a:1"] || !granted["b:1"] {
		t.Errorf("granted %v, want a:1 and b:1, each decided by the app", granted)
	}
	if n := app.calls.Load(); n != 2 {
		t.Errorf("app calls = %d, want 2: one per set of topics", n)
	}
}
