package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

var transports = []string{"websocket", "polling"}

func TestPublishOverRedisReachesSubscriber(t *testing.T) {
	rs, n := redisNode(t)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			topic := "project:" + tr
			c := dial(t, n, sioclient.Options{Transport: tr})
			a := c.subscribe(token(t, topic), map[string]int64{topic: 1})
			if len(a.Granted) != 1 || a.Granted[0] != topic {
				t.Fatalf("ack = %+v", a)
			}
			_, err := rs.Do("PUBLISH", "pushpoll:"+topic, `{"v":2}`)
			must(t, err)
			c.waitHint(topic, 2, 5*time.Second)
			_, err = rs.Do("PUBLISH", "pushpoll:"+topic, `3`) // bare integer
			must(t, err)
			c.waitHint(topic, 3, 5*time.Second)
		})
	}
}

func TestPublishOverHTTP(t *testing.T) {
	for _, backend := range []string{"in-process", "redis"} {
		t.Run(backend, func(t *testing.T) {
			var n *node
			if backend == "redis" {
				_, n = redisNode(t)
			} else {
				n = startNode(t, testConfig())
			}
			c := dial(t, n, sioclient.Options{})
			c.subscribe(token(t, "a", "b"), map[string]int64{"a": 0, "b": 0})
			code, body := publishHTTP(t, n, publishSecret, `{"topic":"a","v":7}`)
			if code != http.StatusAccepted {
				t.Fatalf("publish = %d %s", code, body)
			}
			c.waitHint("a", 7, 5*time.Second)
			code, body = publishHTTP(t, n, publishSecret, `[{"topic":"a","v":8},{"topic":"b","v":1}]`)
			if code != http.StatusAccepted {
				t.Fatalf("batch publish = %d %s", code, body)
			}
			c.waitHint("a", 8, 5*time.Second)
			c.waitHint("b", 1, 5*time.Second)
		})
	}
}

func TestHTTPPublishErrors(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPublishBytes = 4096
	n := startNode(t, cfg)
	cases := []struct {
		name, secret, body string
		code               int
		errHas             string
	}{
		{"wrong secret", "nope-nope-nope-nope", `{"topic":"a","v":1}`, 401, "secret"},
		{"no secret", "", `{"topic":"a","v":1}`, 401, "secret"},
		{"bad json", publishSecret, `{"topic":`, 400, "bad json"},
		{"empty", publishSecret, ``, 400, "empty body"},
		{"bad topic", publishSecret, `{"topic":"a b","v":1}`, 400, "topic"},
		{"reserved topic", publishSecret, `[{"topic":"a","v":1},{"topic":"mode","v":1}]`, 400, "reserved topic"},
		{"missing v", publishSecret, `{"topic":"a"}`, 400, `is required`},
		{"negative v", publishSecret, `{"topic":"a","v":-1}`, 400, "negative"},
		{"float v", publishSecret, `{"topic":"a","v":1.5}`, 400, "not an int64"},
		// The value as sent, escaped once by the JSON answer, not twice.
		{"string v", publishSecret, `{"topic":"a","v":"x"}`, 400, `bad version: \"x\" is not an int64"}`},
		{"bad item in batch", publishSecret, `[{"topic":"a","v":1},{"topic":"","v":2}]`, 400, "item 1"},
		{"empty batch", publishSecret, `[]`, 400, "1 to 1000"},
		{"too large", publishSecret, `{"topic":"a","v":1,"pad":"` + strings.Repeat("x", 5000) + `"}`, 413, "over 4096"},
	}
	if err := n.srv.Publish(context.Background(), "mode", 1); !errors.Is(err, notifier.ErrReservedTopic) {
		t.Errorf("in-process Publish of mode: err = %v, want ErrReservedTopic", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := publishHTTP(t, n, c.secret, c.body)
			if code != c.code || !strings.Contains(body, c.errHas) || !strings.HasPrefix(body, `{"error":`) {
				t.Fatalf("got %d %s, want %d with error naming %q", code, body, c.code, c.errHas)
			}
		})
	}
}

// Each class of malformed publish is dropped and counted; the node keeps
// serving the next good one.
func TestMalformedPublishesAreDropped(t *testing.T) {
	rs, n := redisNode(t)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "t"), map[string]int64{"t": 0})
	bad := []string{`{"v":`, `{"v":"1"}`, `{"v":-1}`, `{}`, `hello`, `{"v":1.5}`, `{"v":1,"pad":"` + strings.Repeat("x", 2000) + `"}`, ``}
	for _, p := range bad {
		_, err := rs.Do("PUBLISH", "pushpoll:t", p)
		must(t, err)
	}
	_, err := rs.Do("PUBLISH", "pushpoll:t", `{"v":5}`)
	must(t, err)
	c.waitHint("t", 5, 5*time.Second)
	if got := c.stale(); len(got) != 1 {
		t.Fatalf("hints = %v, want only the good one", got)
	}
	waitFor(t, 5*time.Second, "rejections counted", func() bool {
		// A bad topic cannot arrive through Redis: a node only subscribes to
		// channels of topics its sockets hold. HTTP publish covers it.
		// Every reason is exported at zero from the start: count, not presence.
		for _, reason := range []string{"bad json", "bad version", "missing version", "payload too large"} {
			if metricValue(t, n, `pushpoll_publishes_rejected_total{reason="`+reason+`"}`) == 0 {
				return false
			}
		}
		return true
	})
}

func TestAuthorization(t *testing.T) {
	rs, n := redisNode(t)
	signed := func(m jwt.SigningMethod, key any, topic string, exp time.Duration) string {
		s, err := jwt.NewWithClaims(m, jwt.MapClaims{"sub": "u", "aud": "pushpoll", "topics": []string{topic}, "exp": time.Now().Add(exp).Unix()}).SignedString(key)
		must(t, err)
		return s
	}
	// Each case asks for topics of its own: a topic the case before bumped,
	// within the hint throttle's window, would fan out at the window's end,
	// after the marker that ends the absence check.
	cases := []struct {
		name, token string
		topics      []string
		granted     []string
		reason      string
	}{
		{"exact grant", token(t, "t:1"), []string{"t:1", "u:1"}, []string{"t:1"}, "not in token"},
		{"prefix grant", token(t, "acct:*"), []string{"acct:1", "acctx:2", "acct"}, []string{"acct:1"}, "not in token"},
		{"expired", signed(jwt.SigningMethodHS256, []byte(testSecret), "t:3", -time.Hour), []string{"t:3"}, nil, "expired"},
		{"forged", signed(jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-xx"), "t:4", time.Hour), []string{"t:4"}, nil, "bad signature"},
		{"alg none", signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "t:5", time.Hour), []string{"t:5"}, nil, ""},
		{"garbage", "garbage", []string{"t:6"}, nil, ""},
		{"no token", "", []string{"t:7"}, nil, "no token"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, n, sioclient.Options{})
			req := map[string]int64{}
			for _, topic := range tc.topics {
				req[topic] = 0
			}
			a := c.subscribe(tc.token, req)
			if fmt.Sprint(a.Granted) != fmt.Sprint(orEmpty(tc.granted)) {
				t.Fatalf("granted = %v, want %v (denied %v)", a.Granted, tc.granted, a.Denied)
			}
			marker := fmt.Sprintf("marker:%d", i)
			if a := c.subscribe(token(t, marker), map[string]int64{marker: 0}); len(a.Granted) != 1 {
				t.Fatalf("marker subscribe: ack %+v", a)
			}
			var denied []string
			for _, topic := range tc.topics {
				if contains(tc.granted, topic) {
					continue
				}
				if a.Denied[topic] == "" || (tc.reason != "" && a.Denied[topic] != tc.reason) {
					t.Fatalf("denied[%s] = %q, want %q", topic, a.Denied[topic], tc.reason)
				}
				denied = append(denied, topic)
				_, err := rs.Do("PUBLISH", "pushpoll:"+topic, `{"v":9}`)
				must(t, err)
			}
			c.settle(marker, func(v int64) {
				_, err := rs.Do("PUBLISH", "pushpoll:"+marker, fmt.Sprintf(`{"v":%d}`, v))
				must(t, err)
			})
			c.noHint(denied...)
		})
	}
}

func TestInvalidTopicsAndLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxTopicsPerSocket = 3
	n := startNode(t, cfg)
	c := dial(t, n, sioclient.Options{})
	a := c.subscribe(token(t, "*"), map[string]int64{"bad topic": 0, "ok": 0})
	if a.Denied["bad topic"] != "invalid topic" {
		t.Fatalf("denied = %v", a.Denied)
	}
	a = c.subscribe(token(t, "a", "b", "c", "d"), map[string]int64{"a": 0, "b": 0, "c": 0, "d": 0})
	if !strings.Contains(a.Error, "too many topics") || len(a.Granted) != 0 {
		t.Fatalf("ack = %+v, want a too-many-topics error", a)
	}
}

func TestCatchUpOnSubscribe(t *testing.T) {
	t.Run("from the version table", func(t *testing.T) {
		rs, n := redisNode(t)
		_, err := rs.Do("EVAL", notifier.PublishScript, "1", "pushpoll:doc:1", "12", `{"v":12}`)
		must(t, err)
		c := dial(t, n, sioclient.Options{})
		c.subscribe(token(t, "doc:1"), map[string]int64{"doc:1": 10})
		c.waitHint("doc:1", 12, 5*time.Second)

		up := dial(t, n, sioclient.Options{})
		up.subscribe(token(t, "doc:1", "marker"), map[string]int64{"doc:1": 12, "marker": 0})
		up.settle("marker", func(v int64) {
			_, err := rs.Do("PUBLISH", "pushpoll:marker", fmt.Sprint(v))
			must(t, err)
		})
		up.noHint("doc:1")
	})
	t.Run("from the node's memory", func(t *testing.T) {
		n := startNode(t, testConfig())
		first := dial(t, n, sioclient.Options{})
		first.subscribe(token(t, "doc:2"), map[string]int64{"doc:2": 1})
		publishHTTP(t, n, publishSecret, `{"topic":"doc:2","v":4}`)
		first.waitHint("doc:2", 4, 5*time.Second)
		late := dial(t, n, sioclient.Options{})
		late.subscribe(token(t, "doc:2"), map[string]int64{"doc:2": 2})
		late.waitHint("doc:2", 4, 5*time.Second)
	})
}

func TestTwoNodesOneRedis(t *testing.T) {
	rs, a := redisNode(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	b := startNode(t, cfg)
	ca := dial(t, a, sioclient.Options{})
	cb := dial(t, b, sioclient.Options{Transport: "polling"})
	ca.subscribe(token(t, "shared"), map[string]int64{"shared": 0})
	cb.subscribe(token(t, "shared"), map[string]int64{"shared": 0})
	code, _ := publishHTTP(t, a, publishSecret, `{"topic":"shared","v":3}`)
	if code != http.StatusAccepted {
		t.Fatalf("publish = %d", code)
	}
	ca.waitHint("shared", 3, 5*time.Second)
	cb.waitHint("shared", 3, 5*time.Second)
}

// A burst of 1,000 bumps to one topic reaches a client as a handful of
// coalesced hints ending at the last version.
func TestBurstCoalesces(t *testing.T) {
	rs, n := redisNode(t)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "hot"), map[string]int64{"hot": 0})
	args := []string{}
	for v := 1; v <= 1000; v++ {
		args = append(args, fmt.Sprintf("PUBLISH pushpoll:hot %d", v))
	}
	pipe := strings.Join(args, "\n")
	_, err := rs.Pipe(pipe)
	must(t, err)
	c.waitHint("hot", 1000, 10*time.Second)
	hints := c.risingHints("hot")
	t.Logf("1000 bumps arrived as %d hints", len(hints))
	if len(hints) > 100 {
		t.Fatalf("%d hints for 1000 bumps: not coalesced", len(hints))
	}
}

// A socket whose client stops reading must not delay another socket's hints.
func TestStuckSocketDoesNotDelayOthers(t *testing.T) {
	cfg := testConfig()
	cfg.WriteTimeout = 2 * time.Second
	// Every bump must reach the sockets: this measures the per-socket path,
	// not the per-topic throttle in front of it.
	cfg.HintThrottle = 0
	n := startNode(t, cfg)
	stuckClient(t, n, token(t, "big"), "big")
	healthy := dial(t, n, sioclient.Options{})
	healthy.subscribe(token(t, "big"), map[string]int64{"big": 0})
	var worst time.Duration
	for v := 1; v <= 200; v++ {
		start := time.Now()
		publishHTTP(t, n, publishSecret, fmt.Sprintf(`{"topic":"big","v":%d}`, v))
		healthy.waitHint("big", int64(v), 5*time.Second)
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst publish-to-hint for the healthy socket while another is stuck: %v", worst)
	if worst > time.Second {
		t.Fatalf("healthy socket delayed %v by a stuck one", worst)
	}
}

// Connecting and disconnecting 1,000 clients leaves no goroutines or
// sessions behind.
func TestConnectDisconnectLeavesNothing(t *testing.T) {
	n := startNode(t, testConfig())
	warm := dial(t, n, sioclient.Options{})
	warm.subscribe(token(t, "x"), map[string]int64{"x": 0})
	_ = warm.Close()
	waitFor(t, 10*time.Second, "warm-up socket gone", func() bool { return n.srv.Sockets() == 0 })
	base := runtime.NumGoroutine()

	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			tr := transports[i%2]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := sioclient.Dial(ctx, n.url, sioclient.Options{Transport: tr})
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			_, _ = c.EmitAck(ctx, "subscribe", map[string]any{"token": token(t, "x"), "topics": map[string]int64{"x": 0}})
			_ = c.Close()
		}(i)
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "sessions and goroutines back to baseline", func() bool {
		return n.srv.Sockets() == 0 && n.srv.Sessions() == 0 && runtime.NumGoroutine() <= base+5
	})
}

// stuckClient connects over a raw websocket, subscribes to topics (in
// frames of 500), and then never reads again: the server's writes pile up in
// the kernel buffers until they block, the way a frozen browser tab or a
// dead mobile link behaves.
func stuckClient(t *testing.T, n *node, tok string, topics ...string) *websocket.Conn {
	t.Helper()
	// A small receive buffer makes the node's writes block sooner.
	dialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	ws, _, err := dialer.Dial("ws"+strings.TrimPrefix(n.url, "http")+"/socket.io/?EIO=3&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	for _, want := range []string{"0", "40"} {
		_, msg, err := ws.ReadMessage()
		if err != nil || !strings.HasPrefix(string(msg), want) {
			t.Fatalf("handshake: got %q, %v; want prefix %q", msg, err, want)
		}
	}
	for id, start := 1, 0; start < len(topics); id, start = id+1, start+500 {
		batch := map[string]int64{}
		for _, topic := range topics[start:min(start+500, len(topics))] {
			batch[topic] = 0
		}
		sub, _ := json.Marshal([]any{"subscribe", map[string]any{"token": tok, "topics": batch}})
		must(t, ws.WriteMessage(websocket.TextMessage, append([]byte(fmt.Sprintf("42%d", id)), sub...)))
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(string(msg), fmt.Sprintf("43%d[", id)) {
				break
			}
		}
	}
	// It keeps pinging, as socket.io-client does on a timer whether or not
	// the page reads: the session stays alive, and only the write deadline
	// can end it.
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if ws.WriteMessage(websocket.TextMessage, []byte("2")) != nil {
					return
				}
			}
		}
	}()
	return ws
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Upgrading from long-polling to websocket, as browsers do by default, must
// not end the session: go-socket.io 1.7.0 as shipped loses about one upgrade
// in ten (its reader, still on the old polling conn, gets EOF when the
// upgrade closes it). 200 upgrades, each then used.
func TestPollingUpgradeSurvives(t *testing.T) {
	n := startNode(t, testConfig())
	tok := token(t, "u")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	sem := make(chan struct{}, 20)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			fail := func(format string, args ...any) {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("client %d: ", i)+fmt.Sprintf(format, args...))
				mu.Unlock()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := sioclient.Dial(ctx, n.url, sioclient.Options{Transport: "polling", Upgrade: true, OnEvent: func(sioclient.Event) {}})
			if err != nil {
				fail("dial: %v", err)
				return
			}
			defer c.Close()
			if c.Transport() != "websocket" {
				fail("still on %s: %v", c.Transport(), c.UpgradeErr())
				return
			}
			if _, err := c.EmitAck(ctx, "subscribe", map[string]any{"token": tok, "topics": map[string]int64{"u": 0}}); err != nil {
				fail("subscribe after upgrade: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of 200 upgrades failed, e.g. %s", len(failures), failures[0])
	}
}

// A browser often POSTs (its subscribe) after the server answered the
// websocket probe and before it sends the upgrade packet. go-socket.io
// refuses that POST ("payload: paused") and the page reconnects; the
// packet must instead be answered and processed on the new websocket.
func TestPostDuringUpgradeIsNotLost(t *testing.T) {
	n := startNode(t, testConfig())
	base := n.url + "/socket.io/?EIO=3&transport=polling&b64=1"
	get := func(url string) string {
		resp, err := http.Get(url)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	open := get(base)
	var hs struct{ SID string }
	must(t, json.Unmarshal([]byte(open[strings.Index(open, "{"):]), &hs))
	if got := get(base + "&sid=" + hs.SID); !strings.Contains(got, "40") {
		t.Fatalf("second poll = %q, want the connect packet", got)
	}
	// A long-poll GET held open now is answered when the engine pauses the
	// polling transport for the upgrade (just after it sends 3probe): its
	// answer is the hook that puts the POST below in the paused window.
	// Polls that carry packets (the mode notice) are read and polled again.
	held := make(chan string, 1)
	go func() {
		for {
			resp, err := http.Get(base + "&sid=" + hs.SID)
			if err != nil {
				held <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// A poll sent after the pause began is refused instead: as good
			// a sign that the transport is paused.
			if resp.StatusCode != http.StatusOK {
				held <- "1:6"
				return
			}
			if strings.HasSuffix(string(b), ":6") {
				held <- string(b)
				return
			}
		}
	}()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.url, "http")+"/socket.io/?EIO=3&transport=websocket&sid="+hs.SID, nil)
	must(t, err)
	defer ws.Close()
	must(t, ws.WriteMessage(websocket.TextMessage, []byte("2probe")))
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "3probe" {
		t.Fatalf("probe answer %q, %v", msg, err)
	}
	select {
	case got := <-held:
		if !strings.HasSuffix(got, ":6") {
			t.Fatalf("the held poll was answered %q, want the pause's noop", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held poll was not answered: the polling transport never paused")
	}
	sub, _ := json.Marshal([]any{"subscribe", map[string]any{"token": token(t, "up"), "topics": map[string]int64{"up": 0}}})
	packet := "421" + string(sub)
	resp, err := http.Post(base+"&sid="+hs.SID, "text/plain;charset=UTF-8", strings.NewReader(fmt.Sprintf("%d:%s", len(packet), packet)))
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST during the upgrade = %d %s, want 200", resp.StatusCode, body)
	}
	must(t, ws.WriteMessage(websocket.TextMessage, []byte("5")))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no subscribe ack on the websocket: %v", err)
		}
		if strings.HasPrefix(string(msg), "431[") {
			if !strings.Contains(string(msg), `"granted":["up"]`) {
				t.Fatalf("ack = %s", msg)
			}
			break
		}
	}
	publishHTTP(t, n, publishSecret, `{"topic":"up","v":3}`)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no hint after the upgrade: %v", err)
		}
		if strings.HasPrefix(string(msg), `42["stale",{"up":3}]`) {
			return
		}
	}
}

// The shim is served with a JavaScript type, a revalidating cache and an
// ETag, and CORS only for allowed origins.
func TestShimIsServed(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedOrigins = []string{"https://app.example"}
	n := startNode(t, cfg)
	get := func(origin, etag string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/pushpoll.js", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get("https://app.example", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("GET /pushpoll.js: %d %v", resp.StatusCode, resp.Header)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("allowed origin got CORS %q", got)
	}
	if got := get("https://evil.example", "").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("foreign origin got CORS %q", got)
	}
	if code := get("", resp.Header.Get("ETag")).StatusCode; code != http.StatusNotModified {
		t.Fatalf("revalidation = %d, want 304", code)
	}
}

// pushpoll_build_info says which build runs, as --version does.
func TestBuildInfoMetric(t *testing.T) {
	n := startNode(t, testConfig())
	got := metric(t, n, "pushpoll_build_info")
	for _, want := range []string{`commit="`, `goversion="go`, `version="`, "} 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("pushpoll_build_info = %q, lacks %s", got, want)
		}
	}
}
