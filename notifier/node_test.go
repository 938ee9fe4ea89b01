package notifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

const (
	testSecret    = "test-secret-0123456789abcdef0123456789"
	publishSecret = "publish-secret-0123456789"
)

// node is one notifier running in the test process on a loopback port.
type node struct {
	srv    *notifier.Server
	url    string
	addr   string
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	err      error // what Serve returned, once stopped
}

func testConfig() notifier.Config {
	cfg := notifier.Default()
	cfg.TokenSecret = testSecret
	cfg.PublishSecret = publishSecret
	cfg.Logger = testLogger()
	return cfg
}

func testLogger() *slog.Logger {
	if os.Getenv("PUSHPOLL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// startNode runs a node until the test ends.
func startNode(t testing.TB, cfg notifier.Config) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startNodeOn(t, cfg, ln)
}

func startNodeOn(t testing.TB, cfg notifier.Config, ln net.Listener) *node {
	t.Helper()
	srv, err := notifier.New(cfg)
	if err != nil {
		t.Fatalf("notifier.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{srv: srv, addr: ln.Addr().String(), url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(n.stop)
	waitFor(t, 10*time.Second, "node ready", func() bool {
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return n
}

// stop drains the node and waits for Serve to return. Safe to call twice.
func (n *node) stop() {
	n.stopOnce.Do(func() {
		n.cancel()
		select {
		case n.err = <-n.done:
		case <-time.After(60 * time.Second):
			n.err = fmt.Errorf("Serve did not return within 60s of shutdown")
		}
	})
}

// checkFor is notifier.CheckFor, the one wait helper.
var checkFor = notifier.CheckFor

// waitFor is checkFor for a condition that has no more to say than what.
func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	checkFor(t, d, func() error {
		if ok() {
			return nil
		}
		return fmt.Errorf("still waiting for %s", what)
	})
}

func token(t testing.TB, topics ...string) string {
	return tokenWith(t, jwt.MapClaims{
		"sub": "user-1", "aud": "pushpoll", "topics": topics,
		"exp": time.Now().Add(time.Hour).Unix(),
	})
}

func tokenWith(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client is a socket.io client with the events it received.
type client struct {
	*sioclient.Client
	t      testing.TB
	mu     sync.Mutex
	events []sioclient.Event
	notify chan struct{}
}

func dial(t testing.TB, n *node, opts sioclient.Options) *client {
	t.Helper()
	c := &client{t: t, notify: make(chan struct{}, 1)}
	opts.OnEvent = func(e sioclient.Event) {
		c.mu.Lock()
		c.events = append(c.events, e)
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := sioclient.Dial(ctx, n.url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", n.url, err)
	}
	c.Client = sc
	t.Cleanup(func() { _ = sc.Close() })
	return c
}

type ack struct {
	Granted []string          `json:"granted"`
	Denied  map[string]string `json:"denied"`
	Error   string            `json:"error"`
}

func (c *client) subscribe(tok string, topics map[string]int64) ack {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args, err := c.EmitAck(ctx, "subscribe", map[string]any{"token": tok, "topics": topics})
	if err != nil {
		c.t.Fatalf("subscribe: %v", err)
	}
	var a ack
	if len(args) != 1 || json.Unmarshal(args[0], &a) != nil {
		c.t.Fatalf("subscribe ack = %s", args)
	}
	return a
}

// stale returns every stale hint received, merged in arrival order.
func (c *client) stale() []map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]int64
	for _, e := range c.events {
		if e.Name == "stale" && len(e.Args) >= 1 { // a second argument is the spread
			var m map[string]int64
			_ = json.Unmarshal(e.Args[0], &m)
			out = append(out, m)
		}
	}
	return out
}

// risingHints returns the hints received for topic, failing the test unless
// their versions strictly rise.
func (c *client) risingHints(topic string) []int64 {
	c.t.Helper()
	var vs []int64
	for _, h := range c.stale() {
		if v, ok := h[topic]; ok {
			if len(vs) > 0 && v <= vs[len(vs)-1] {
				c.t.Fatalf("hints for %s not strictly rising: %v then %d", topic, vs, v)
			}
			vs = append(vs, v)
		}
	}
	return vs
}

func (c *client) named(name string) []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []json.RawMessage
	for _, e := range c.events {
		if e.Name == name && len(e.Args) > 0 {
			out = append(out, e.Args[0])
		}
	}
	return out
}

// lastMode returns the newest mode event's mode, "" if none.
func (c *client) lastMode() string {
	ms := c.named("mode")
	if len(ms) == 0 {
		return ""
	}
	var m struct{ Mode string }
	_ = json.Unmarshal(ms[len(ms)-1], &m)
	return m.Mode
}

// waitHint waits until some stale hint carries topic at version v.
func (c *client) waitHint(topic string, v int64, d time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		for _, h := range c.stale() {
			if got, ok := h[topic]; ok && got == v {
				return time.Since(start)
			}
		}
		select {
		case <-c.notify:
		case <-time.After(5 * time.Millisecond):
		case <-deadline.C:
			c.t.Fatalf("no stale hint %s=%d within %v; got %v", topic, v, d, c.stale())
		}
	}
}

// settle ends an absence check without a sleep. mark publishes version v
// of marker, a second topic c holds, by the same path as the publishes
// under check; settle waits for its hint. Redis delivers one subscriber
// connection's messages in publish order (so not across a cluster's shards,
// which the node reads on a connection each), the in-process broker fans
// out within the publish request, and the node hints one socket in that
// order (hints go out before a later mode notice, too), so whatever an
// earlier publish caused has reached c by then, on one condition: the
// earlier bump must fan out at once, not be held by the hint throttle
// (throttle.go) for the end of its topic's window, where it could trail
// the marker. A bump fans out at once when its topic was not bumped within
// the last --hint-throttle: a topic fresh to the node, or a node whose
// throttle is off. The marker itself may be held; settle then only waits
// longer.
func (c *client) settle(marker string, mark func(v int64)) {
	c.t.Helper()
	v := time.Now().UnixNano()
	mark(v)
	c.waitHint(marker, v, 10*time.Second)
}

// noHint fails the test if a hint for one of topics has arrived. It never
// waits: call it once settle has made "has arrived" mean "was caused".
func (c *client) noHint(topics ...string) {
	c.t.Helper()
	for _, h := range c.stale() {
		for _, topic := range topics {
			if _, ok := h[topic]; ok {
				c.t.Fatalf("unexpected hint for %s: %v", topic, c.stale())
			}
		}
	}
}

func publishHTTP(t testing.TB, n *node, secret, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

// redisNode starts a redis-server and a node on it.
func redisNode(t testing.TB) (*redistest.Server, *node) {
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	return rs, startNode(t, cfg)
}

func metric(t testing.TB, n *node, name string) string {
	t.Helper()
	resp, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
