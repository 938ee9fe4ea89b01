package notifier_test

// Callback mode (DESIGN §3) against a hand-written fake of the main app's
// authorize endpoint, and grant expiry in both modes: the node must tell the
// client `expired` and stop hinting when a grant lapses.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// authLeeway is authbridge's default clock leeway, which the notifier does
// not override: a token's grant lasts until exp plus this.
const authLeeway = 5 * time.Second

// fakeApp is a hand-written stand-in for the main app's authorize endpoint:
// it answers per Cookie and records what it was asked.
type fakeApp struct {
	srv *httptest.Server
	url string

	mu      sync.Mutex
	answers map[string]string // Cookie -> JSON answer; absent: 403
	calls   []appCall
	delay   time.Duration // before answering, as a slow app would
}

type appCall struct {
	Cookie, Authorization string
	Topics                []string
}

func newFakeApp(t testing.TB) *fakeApp {
	t.Helper()
	a := &fakeApp{answers: map[string]string{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	a.url = a.srv.URL + "/pushpoll/authorize"
	t.Cleanup(a.srv.Close)
	return a
}

// restart brings the app back on the address it had before Close, until t
// ends.
func (a *fakeApp) restart(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", a.srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("app back on its address: %v", err)
	}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.srv.Listener.Close()
	a.srv.Listener = ln
	a.srv.Start()
	t.Cleanup(a.srv.Close)
}

func (a *fakeApp) grant(cookie, answer string) {
	a.mu.Lock()
	a.answers[cookie] = answer
	a.mu.Unlock()
}

func (a *fakeApp) setDelay(d time.Duration) {
	a.mu.Lock()
	a.delay = d
	a.mu.Unlock()
}

func (a *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/pushpoll/authorize" {
		http.Error(w, "wrong endpoint", http.StatusNotFound)
		return
	}
	var req struct{ Topics []string }
	_ = json.NewDecoder(r.Body).Decode(&req)
	cookie := r.Header.Get("Cookie")
	a.mu.Lock()
	a.calls = append(a.calls, appCall{Cookie: cookie, Authorization: r.Header.Get("Authorization"), Topics: req.Topics})
	answer, ok := a.answers[cookie]
	delay := a.delay
	a.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
		return // the node gave up waiting
	}
	if !ok {
		http.Error(w, `{"error":"who are you"}`, http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, answer)
}

func (a *fakeApp) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

func (a *fakeApp) lastCall() appCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return appCall{}
	}
	return a.calls[len(a.calls)-1]
}

// callbackNode runs a node in callback mode only: no token key.
func callbackNode(t *testing.T, app *fakeApp) *node {
	t.Helper()
	cfg := testConfig()
	cfg.TokenSecret = ""
	cfg.AuthCallbackURL = app.url
	n := startNode(t, cfg)
	settled(t, n)
	return n
}

// cookieWitness is a witness granted through the callback with cookie.
func cookieWitness(t testing.TB, n *node, app *fakeApp, cookie string) *witness {
	t.Helper()
	app.grant(cookie, `{"topics":["witness:*"],"ttl":300}`)
	return newWitness(t, n, sioclient.Options{Header: http.Header{"Cookie": {cookie}}}, func(string) string { return "" })
}

// waitEvent waits for the n-th (1-based) event called name and returns its
// first argument.
func (c *client) waitEvent(name string, n int, d time.Duration) json.RawMessage {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if got := c.named(name); len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %q event #%d within %v; events %v", name, n, d, c.named(name))
		}
		select {
		case <-c.notify:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestCallbackForwardsCredentialsAndHonoursTheApp(t *testing.T) {
	app := newFakeApp(t)
	n := callbackNode(t, app)
	for _, tr := range transports {
		app.grant("sid=alice-"+tr, `{"topics":["doc:*","user:alice"],"ttl":300}`)
	}

	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			cookie := "sid=alice-" + tr
			// bob's topic is this case's own, so that the case before did
			// not leave it in a throttle window (node_test.go, settle).
			bob := "user:bob:" + tr
			creds := http.Header{"Cookie": {cookie}, "Authorization": {"Bearer alice-" + tr}}
			c := dial(t, n, sioclient.Options{Transport: tr, Header: creds})
			before := app.callCount()
			a := c.subscribe("", map[string]int64{"doc:1": 0, "user:alice": 0, bob: 0})
			slices.Sort(a.Granted)
			if !slices.Equal(a.Granted, []string{"doc:1", "user:alice"}) || a.Denied[bob] != "not authorized" {
				t.Fatalf("ack %+v, want doc:1 and user:alice granted, %s \"not authorized\"", a, bob)
			}
			if app.callCount() != before+1 {
				t.Fatalf("app calls %d -> %d, want one", before, app.callCount())
			}
			call := app.lastCall()
			slices.Sort(call.Topics)
			if call.Cookie != cookie || call.Authorization != "Bearer alice-"+tr || !slices.Equal(call.Topics, []string{"doc:1", "user:alice", bob}) {
				t.Fatalf("the app saw %+v", call)
			}

			// Served from the cache: a second subscribe on this socket and a
			// new socket with the same credentials cost no app call.
			// Both also take a marker topic of this case's own, for the
			// absence check below.
			mark := "doc:mark:" + tr
			if a := c.subscribe("", map[string]int64{"doc:2": 0, mark: 0}); len(a.Granted) != 2 {
				t.Fatalf("second subscribe: %+v", a)
			}
			again := dial(t, n, sioclient.Options{Transport: tr, Header: creds})
			if a := again.subscribe("", map[string]int64{"doc:1": 0, mark: 0, bob: 0}); len(a.Granted) != 2 || a.Denied[bob] != "not authorized" {
				t.Fatalf("same credentials, new socket: %+v", a)
			}
			if got := app.callCount(); got != before+1 {
				t.Fatalf("app calls %d -> %d, want the cache to answer", before, got)
			}

			publishHTTP(t, n, publishSecret, bump(bob, 7))
			var marked int64
			c.settle(mark, func(v int64) {
				marked = v
				publishHTTP(t, n, publishSecret, bump(mark, v))
			})
			again.waitHint(mark, marked, 5*time.Second)
			c.noHint(bob)
			again.noHint(bob)
		})
	}

	t.Run("the app refuses", func(t *testing.T) {
		for _, h := range []http.Header{{"Cookie": {"sid=mallory"}}, {}} {
			c := dial(t, n, sioclient.Options{Header: h})
			before := app.callCount()
			for range 2 {
				a := c.subscribe("", map[string]int64{"doc:1": 0})
				if len(a.Granted) != 0 || a.Denied["doc:1"] != "not authorized" {
					t.Fatalf("cookie %q: ack %+v, want \"not authorized\"", h.Get("Cookie"), a)
				}
			}
			// A refusal is not cached: the app is asked each time.
			if got := app.callCount(); got != before+2 {
				t.Errorf("app calls %d -> %d, want 2", before, got)
			}
			if app.lastCall().Cookie != h.Get("Cookie") {
				t.Errorf("the app saw cookie %q", app.lastCall().Cookie)
			}
		}
	})

	t.Run("a token is no way around the app", func(t *testing.T) {
		c := dial(t, n, sioclient.Options{Header: http.Header{"Cookie": {"sid=mallory"}}})
		a := c.subscribe(token(t, "doc:*"), map[string]int64{"doc:1": 0})
		if len(a.Granted) != 0 || a.Denied["doc:1"] != "not authorized" {
			t.Fatalf("ack %+v: a node without a token key took a token", a)
		}
	})
}

func TestCallbackAppDown(t *testing.T) {
	app := newFakeApp(t)
	n := callbackNode(t, app)
	healthy := cookieWitness(t, n, app, "sid=witness")
	app.grant("sid=carol", `{"topics":["doc:*"],"ttl":300}`)
	c := dial(t, n, sioclient.Options{Transport: "polling", Header: http.Header{"Cookie": {"sid=carol"}}})

	app.srv.Close()
	for i := range 3 {
		start := time.Now()
		a := c.subscribe("", map[string]int64{"doc:1": 0})
		took := time.Since(start)
		if len(a.Granted) != 0 || a.Denied["doc:1"] != "auth unavailable" {
			t.Fatalf("subscribe %d with the app down: %+v, want \"auth unavailable\"", i, a)
		}
		if took > 3*time.Second {
			t.Fatalf("subscribe %d with the app down took %v", i, took)
		}
		t.Logf("app down: denied in %v", took)
	}
	// Grants already held do not depend on the app.
	healthy.alive()

	app.restart(t)
	t.Run("hung app", func(t *testing.T) {
		app.setDelay(time.Minute)
		start := time.Now()
		a := c.subscribe("", map[string]int64{"doc:1": 0})
		took := time.Since(start)
		if a.Denied["doc:1"] != "auth unavailable" || took > 3*time.Second {
			t.Fatalf("hung app: %+v after %v, want \"auth unavailable\" within 3s", a, took)
		}
		t.Logf("hung app: denied in %v", took)
		app.setDelay(0)
	})

	// The app is back: the same socket, which stayed up, subscribes again;
	// the failures were not cached.
	a := c.subscribe("", map[string]int64{"doc:1": 0})
	if len(a.Granted) != 1 {
		t.Fatalf("after the app came back: %+v", a)
	}
	publishHTTP(t, n, publishSecret, `{"topic":"doc:1","v":3}`)
	c.waitHint("doc:1", 3, 5*time.Second)
	healthy.alive()
}

// After a deploy every browser of one user reconnects at once with the same
// cookie: the app must see one call, not a stampede.
func TestCallbackReconnectStorm(t *testing.T) {
	const clients = 500
	app := newFakeApp(t)
	n := callbackNode(t, app)
	app.grant("sid=storm", `{"topics":["storm:*"],"ttl":300}`)
	// A busy app: subscribes pile up while the first call is in flight. Well
	// under the node's 2s callback timeout even on a loaded machine, since a
	// call that times out is not cached and the next subscribe tries again.
	app.setDelay(200 * time.Millisecond)

	cs := make([]*client, clients)
	for i := range cs {
		tr := "websocket"
		if i%10 == 0 {
			tr = "polling"
		}
		cs[i] = dial(t, n, sioclient.Options{Transport: tr, Header: http.Header{"Cookie": {"sid=storm"}}})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			topic := fmt.Sprintf("storm:%d", i%7)
			args, err := c.EmitAck(ctx, "subscribe", map[string]any{"topics": map[string]int64{topic: 0}})
			var a ack
			if err != nil || len(args) != 1 || json.Unmarshal(args[0], &a) != nil || len(a.Granted) != 1 {
				t.Errorf("client %d: %v %s", i, err, args)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := app.callCount(); got != 1 {
		t.Fatalf("%d subscribes with one cookie made %d app calls, want 1", clients, got)
	}
	publishHTTP(t, n, publishSecret, `[{"topic":"storm:0","v":1},{"topic":"storm:6","v":1}]`)
	for i, c := range cs {
		if i%7 == 0 || i%7 == 6 {
			c.waitHint(fmt.Sprintf("storm:%d", i%7), 1, 10*time.Second)
		}
	}
}

func TestCallbackGrantExpires(t *testing.T) {
	app := newFakeApp(t)
	n := callbackNode(t, app)
	healthy := cookieWitness(t, n, app, "sid=witness")
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			cookie, doc1, doc2 := "sid=dave-"+tr, "doc:1:"+tr, "doc:2:"+tr
			app.grant(cookie, `{"topics":["doc:*"],"ttl":1}`)
			c := dial(t, n, sioclient.Options{Transport: tr, Header: http.Header{"Cookie": {cookie}}})
			calls := app.callCount()
			start := time.Now()
			if a := c.subscribe("", map[string]int64{doc1: 0, doc2: 0}); len(a.Granted) != 2 {
				t.Fatalf("ack %+v", a)
			}
			raw := c.waitEvent("expired", 1, 5*time.Second)
			took := time.Since(start)
			var ex struct{ Topics []string }
			must(t, json.Unmarshal(raw, &ex))
			slices.Sort(ex.Topics)
			if !slices.Equal(ex.Topics, []string{doc1, doc2}) {
				t.Fatalf("expired %s, want %s and %s", raw, doc1, doc2)
			}
			if took < 900*time.Millisecond || took > 3*time.Second {
				t.Errorf("a ttl 1 grant expired after %v", took)
			}
			t.Logf("ttl 1 grant expired after %v", took)
			publishHTTP(t, n, publishSecret, fmt.Sprintf(`[{"topic":%q,"v":5},{"topic":%q,"v":5}]`, doc1, doc2))
			healthy.alive()
			// The client subscribes again, as the shim does on `expired`: the
			// cache entry lapsed with the grant, so the app is asked again,
			// and the catch-up brings the bump it missed meanwhile.
			if a := c.subscribe("", map[string]int64{doc1: 0}); len(a.Granted) != 1 {
				t.Fatalf("subscribe after expiry: %+v", a)
			}
			if got := app.callCount(); got != calls+2 {
				t.Errorf("app calls %d -> %d, want 2 (one per grant)", calls, got)
			}
			c.waitHint(doc1, 5, 5*time.Second)
			// That catch-up hint is the marker: the bumps fanned out within
			// their publish (fresh topics, so not held by the throttle), so
			// had they reached the lapsed socket their hints would be here
			// by now; doc1's would be a second hint at 5.
			c.noHint(doc2)
			if got := c.risingHints(doc1); len(got) != 1 {
				t.Fatalf("hints for %s: %v, want only the catch-up's 5", doc1, got)
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a real token expiry: the full suite (scripts/test) runs it")
	}
	n := startNode(t, testConfig())
	settled(t, n)
	healthy := hsWitness(t, n, "websocket")
	// The transports wait out their expiries side by side.
	t.Run("transports", func(t *testing.T) {
		for _, tr := range transports {
			t.Run(tr, func(t *testing.T) { t.Parallel(); tokenExpiry(t, n, tr) })
		}
	})
	healthy.alive()
}

func tokenExpiry(t *testing.T, n *node, tr string) {
	short, long := "short:"+tr, "long:"+tr
	exp := time.Now().Add(2 * time.Second).Unix()
	soon := tokenWith(t, jwt.MapClaims{"sub": "u", "aud": "pushpoll", "topics": []string{short}, "exp": exp})
	c := dial(t, n, sioclient.Options{Transport: tr})
	if a := c.subscribe(soon, map[string]int64{short: 0}); len(a.Granted) != 1 {
		t.Fatalf("ack %+v", a)
	}
	if a := c.subscribe(token(t, long), map[string]int64{long: 0}); len(a.Granted) != 1 {
		t.Fatalf("ack %+v", a)
	}
	publishHTTP(t, n, publishSecret, fmt.Sprintf(`[{"topic":%q,"v":1},{"topic":%q,"v":1}]`, short, long))
	c.waitHint(short, 1, 5*time.Second)
	c.waitHint(long, 1, 5*time.Second)

	raw := c.waitEvent("expired", 1, 15*time.Second)
	at := time.Now()
	due := time.Unix(exp, 0).Add(authLeeway)
	var ex struct{ Topics []string }
	must(t, json.Unmarshal(raw, &ex))
	if !slices.Equal(ex.Topics, []string{short}) {
		t.Fatalf("expired %s, want only %s", raw, short)
	}
	// Not before exp plus the leeway; soon after it.
	if early := due.Sub(at); early > 50*time.Millisecond {
		t.Errorf("expired %v before exp+leeway", early)
	}
	if late := at.Sub(due); late > 2*time.Second {
		t.Errorf("expired %v after exp+leeway", late)
	}
	t.Logf("token with exp 2s ahead: expired %v after exp (leeway %v)", at.Sub(time.Unix(exp, 0)).Round(10*time.Millisecond), authLeeway)

	publishHTTP(t, n, publishSecret, fmt.Sprintf(`[{"topic":%q,"v":2},{"topic":%q,"v":2}]`, short, long))
	// long's hint is the marker: it was published after short's, in the
	// same batch, and reaches the socket after anything short's would.
	c.waitHint(long, 2, 5*time.Second)
	for _, h := range c.stale() {
		if h[short] == 2 {
			t.Fatalf("hint for the expired topic: %v", h)
		}
	}
	// A fresh token brings it back.
	if a := c.subscribe(token(t, short), map[string]int64{short: 2}); len(a.Granted) != 1 {
		t.Fatalf("resubscribe: %+v", a)
	}
	publishHTTP(t, n, publishSecret, fmt.Sprintf(`{"topic":%q,"v":3}`, short))
	c.waitHint(short, 3, 5*time.Second)
}
