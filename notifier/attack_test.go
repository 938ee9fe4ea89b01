package notifier_test

// The attack suite: hostile input against a running node, over real HTTP and
// real sockets. Every case checks two things: the attacker gets a clear
// refusal (a status, an ack error, a denial reason, or its socket closed),
// and nothing is lost for everyone else: a well-behaved client that was
// connected through the attack still gets its hints afterwards, and the
// node's socket and session counts come back to what they were.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/internal/socketio"
	"github.com/pushpoll/pushpoll/notifier"
)

const adminSecret = "admin-secret-0123456789"

// witness is a well-behaved client on a node under attack. Whatever an
// attack does to its own socket, the witness must keep getting its hints.
type witness struct {
	t     testing.TB
	n     *node
	c     *client
	topic string
	v     int64
}

// witnessSeq keeps witness topics apart, so no witness sees another's hints.
var witnessSeq atomic.Int64

// newWitness dials with opts and subscribes to a fresh topic with tok (an
// empty tok subscribes through the auth callback).
func newWitness(t testing.TB, n *node, opts sioclient.Options, tok func(topic string) string) *witness {
	t.Helper()
	w := &witness{t: t, n: n, topic: fmt.Sprintf("witness:%d", witnessSeq.Add(1))}
	w.c = dial(t, n, opts)
	if a := w.c.subscribe(tok(w.topic), map[string]int64{w.topic: 0}); len(a.Granted) != 1 {
		t.Fatalf("witness subscribe: ack %+v", a)
	}
	w.alive()
	return w
}

// hsWitness is a witness subscribed with an HS256 token from token().
func hsWitness(t testing.TB, n *node, tr string) *witness {
	t.Helper()
	return newWitness(t, n, sioclient.Options{Transport: tr}, func(topic string) string { return token(t, topic) })
}

// alive publishes the witness's next version over HTTP and waits for the
// hint; it fails if the witness's socket has ended.
func (w *witness) alive() {
	w.t.Helper()
	w.v++
	code, body := publishHTTP(w.t, w.n, publishSecret, fmt.Sprintf(`{"topic":%q,"v":%d}`, w.topic, w.v))
	if code != http.StatusAccepted {
		w.t.Fatalf("witness publish = %d %s", code, body)
	}
	w.c.waitHint(w.topic, w.v, 5*time.Second)
	select {
	case <-w.c.Done():
		w.t.Fatalf("witness socket ended: %v", w.c.Err())
	default:
	}
}

// settled waits until the node has finished its start-up resync and trusts
// push. /readyz turns green before that resync has looked at the hub, so a
// socket that subscribes in between may get a v 0 hint from it, which would
// muddle the cases that count hints.
func settled(t testing.TB, n *node) {
	t.Helper()
	waitFor(t, 10*time.Second, "push trusted", func() bool {
		return metricValue(t, n, "pushpoll_push_trusted") == 1
	})
}

// metricValue reads one exact series, like `x_total{reason="y"}`, from
// /metrics; 0 when it is absent.
func metricValue(t testing.TB, n *node, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(metric(t, n, series), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		// Label values may hold spaces; the value follows the last one.
		name, val := line[:i], line[i+1:]
		if name == series {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				t.Fatalf("metric %s = %q", series, val)
			}
			return f
		}
	}
	return 0
}

func wireRejected(t testing.TB, n *node, reason string) float64 {
	t.Helper()
	return metricValue(t, n, `pushpoll_wire_rejected_total{reason="`+reason+`"}`)
}

// ended waits for c's connection to end and returns why.
func ended(t testing.TB, c *client, d time.Duration) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(d):
		t.Fatalf("socket still open %v after the attack", d)
		return nil
	}
}

// counts waits until the node holds exactly sockets sockets and as many
// go-socket.io sessions: a refused or closed attacker left nothing behind.
func counts(t testing.TB, n *node, sockets int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d sockets and sessions", sockets), func() bool {
		return n.srv.Sockets() == sockets && n.srv.Sessions() == sockets
	})
}

// attackNode is the node most of the suite runs against: the defaults plus
// an admin secret, with a witness that lives through every case.
func attackNode(t *testing.T) (*node, *witness) {
	t.Helper()
	cfg := testConfig()
	cfg.AdminSecret = adminSecret
	n := startNode(t, cfg)
	settled(t, n)
	return n, hsWitness(t, n, "websocket")
}

func TestAttackForeignOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("a long attack suite over many real connections: the full suite (scripts/test) runs it")
	}
	cfg := testConfig()
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	n := startNode(t, cfg)
	settled(t, n)
	suite := hsWitness(t, n, "polling")
	allowed := http.Header{"Origin": {"https://app.example.com"}}

	origins := []struct{ name, origin string }{
		{"foreign", "https://evil.example"},
		{"look-alike suffix", "https://app.example.com.evil.example"},
		{"other scheme", "http://app.example.com"},
		{"null", "null"},
	}
	for _, tr := range transports {
		for _, o := range origins {
			t.Run(tr+"/"+o.name, func(t *testing.T) {
				healthy := newWitness(t, n, sioclient.Options{Transport: tr, Header: allowed},
					func(topic string) string { return token(t, topic) })
				// The previous case's witness closed as that case ended; the
				// node drops its session a moment later.
				waitFor(t, 5*time.Second, "only the suite's and this case's witness", func() bool { return n.srv.Sessions() == 2 })
				base := n.srv.Sessions()
				refusedBefore := wireRejected(t, n, "origin")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c, err := sioclient.Dial(ctx, n.url, sioclient.Options{Transport: tr, Header: http.Header{"Origin": {o.origin}}})
				if err == nil {
					c.Close()
					t.Fatalf("Origin %q: handshake accepted", o.origin)
				}
				var se *sioclient.StatusError
				if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
					t.Fatalf("Origin %q: %v, want HTTP 403", o.origin, err)
				}
				if got := n.srv.Sessions(); got != base {
					t.Fatalf("sessions %d -> %d: a refused handshake created a session", base, got)
				}
				if got := wireRejected(t, n, "origin"); got != refusedBefore+1 {
					t.Errorf("origin refusals %v -> %v, want one more", refusedBefore, got)
				}
				healthy.alive()
			})
		}
	}
	// A raw polling handshake sees the same 403 and gets no CORS grant.
	req, _ := http.NewRequest(http.MethodGet, n.url+"/socket.io/?EIO=3&transport=polling", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("raw foreign polling handshake: %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	suite.alive()
	counts(t, n, 1)
}

func TestAttackTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("a long attack suite over many real connections: the full suite (scripts/test) runs it")
	}
	n, suite := attackNode(t)
	hour := time.Now().Add(time.Hour).Unix()
	claims := func(topic string, extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "mallory", "aud": "pushpoll", "topics": []string{topic}, "exp": hour}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	type mint func(t testing.TB, topic string) string
	hs256 := func(extra jwt.MapClaims) mint {
		return func(t testing.TB, topic string) string { return tokenWith(t, claims(topic, extra)) }
	}
	signed := func(m jwt.SigningMethod, key any) mint {
		return func(t testing.TB, topic string) string {
			s, err := jwt.NewWithClaims(m, claims(topic, nil)).SignedString(key)
			must(t, err)
			return s
		}
	}
	fixed := func(s string) mint { return func(testing.TB, string) string { return s } }
	// Each case guards a topic of its own: one the case before bumped,
	// within the hint throttle's window, would fan out at the window's
	// end, after the marker that ends the absence check.
	cases := []struct {
		name   string
		token  mint
		reason string
	}{
		{"wrong audience", hs256(jwt.MapClaims{"aud": "other-app"}), "wrong audience"},
		{"no audience", hs256(jwt.MapClaims{"aud": nil}), "missing claim"},
		{"no exp", hs256(jwt.MapClaims{"exp": nil}), "missing claim"},
		{"no sub", hs256(jwt.MapClaims{"sub": nil}), "missing claim"},
		{"topics not an array", func(t testing.TB, topic string) string {
			return tokenWith(t, claims(topic, jwt.MapClaims{"topics": topic}))
		}, "malformed token"},
		{"not yet valid", hs256(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}), "not yet valid"},
		{"alg none", signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), "bad signature"},
		{"alg none, signature stripped from a valid token", func(t testing.TB, topic string) string {
			parts := strings.Split(hs256(nil)(t, topic), ".")
			return parts[0] + "." + parts[1] + "."
		}, "bad signature"},
		{"HS512 with the right secret", signed(jwt.SigningMethodHS512, []byte(testSecret)), "bad signature"},
		{"garbage", fixed("garbage"), "malformed token"},
		{"three dots of garbage", fixed("a.b.c"), "malformed token"},
		{"oversized", func(t testing.TB, topic string) string {
			return hs256(nil)(t, topic) + strings.Repeat("A", 9000)
		}, "malformed token"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			healthy := hsWitness(t, n, "websocket")
			vault, marker := fmt.Sprintf("vault:%d", i), fmt.Sprintf("marker:%d", i)
			c := dial(t, n, sioclient.Options{})
			a := c.subscribe(tc.token(t, vault), map[string]int64{vault: 0})
			if len(a.Granted) != 0 || a.Denied[vault] != tc.reason {
				t.Fatalf("ack %+v, want %s denied %q", a, vault, tc.reason)
			}
			if a := c.subscribe(token(t, marker), map[string]int64{marker: 0}); len(a.Granted) != 1 {
				t.Fatalf("marker subscribe: ack %+v", a)
			}
			publishHTTP(t, n, publishSecret, bump(vault, time.Now().UnixNano()))
			c.settle(marker, func(v int64) { publishHTTP(t, n, publishSecret, bump(marker, v)) })
			c.noHint(vault)
			healthy.alive()
		})
	}

	t.Run("prefix grants do not over-match", func(t *testing.T) {
		healthy := hsWitness(t, n, "websocket")
		c := dial(t, n, sioclient.Options{Transport: "polling"})
		asked := map[string]int64{"acct:1": 0, "acctx:2": 0, "acct": 0, "acct:": 0, "acc": 0, "xacct:1": 0}
		a := c.subscribe(token(t, "acct:*"), asked)
		if len(a.Granted) != 1 || a.Granted[0] != "acct:1" {
			t.Fatalf("granted %v, want only acct:1 (denied %v)", a.Granted, a.Denied)
		}
		var denied []string
		for topic := range asked {
			if topic == "acct:1" {
				continue
			}
			if a.Denied[topic] != "not in token" {
				t.Errorf("denied[%s] = %q, want \"not in token\"", topic, a.Denied[topic])
			}
			denied = append(denied, topic)
			publishHTTP(t, n, publishSecret, bump(topic, 5))
		}
		// The granted topic is the marker, bumped after every denied one.
		c.settle("acct:1", func(v int64) { publishHTTP(t, n, publishSecret, bump("acct:1", v)) })
		c.noHint(denied...)
		healthy.alive()
	})

	t.Run("a bare * grants nothing", func(t *testing.T) {
		c := dial(t, n, sioclient.Options{})
		a := c.subscribe(token(t, "*"), map[string]int64{"vault": 0, "witness:1": 0})
		if len(a.Granted) != 0 {
			t.Fatalf("a token of [\"*\"] granted %v", a.Granted)
		}
	})

	t.Run("invalid topic names", func(t *testing.T) {
		healthy := hsWitness(t, n, "websocket")
		c := dial(t, n, sioclient.Options{})
		long := strings.Repeat("a", notifier.MaxTopicLen+1)
		bad := []string{"", "a b", "x\n", "x\x00y", "é", "topic*", "<script>", "a,b", long}
		asked := map[string]int64{"ok:1": 0}
		for _, b := range bad {
			asked[b] = 0
		}
		a := c.subscribe(token(t, "ok:*", "a*", "x*", "topic*", "<*"), asked)
		if len(a.Granted) != 1 || a.Granted[0] != "ok:1" {
			t.Fatalf("granted %v, want only ok:1", a.Granted)
		}
		for _, b := range bad[:len(bad)-1] {
			if a.Denied[b] != "invalid topic" {
				t.Errorf("denied[%q] = %q, want \"invalid topic\"", b, a.Denied[b])
			}
		}
		// The ack names an over-long topic by a bounded prefix, so a hostile
		// client cannot make the node echo kilobytes back.
		found := false
		for k, reason := range a.Denied {
			if strings.HasPrefix(k, long[:notifier.MaxTopicLen]) && reason == "invalid topic" && len(k) < len(long)+8 {
				found = true
			}
		}
		if !found {
			t.Errorf("over-long topic not denied \"invalid topic\": %v", a.Denied)
		}
		a = c.subscribe(token(t, "mode"), map[string]int64{"mode": 0})
		if a.Denied["mode"] != "reserved topic" {
			t.Errorf("the flag channel's topic: ack %+v, want denied \"reserved topic\"", a)
		}
		healthy.alive()
	})
	suite.alive()
	counts(t, n, 1)
}

// TestAttackKeyConfusion runs a node that verifies RS256 with a public key
// and tries to get a token past it signed HS256 with that public key's PEM
// as the HMAC secret: the classic algorithm confusion.
func TestAttackKeyConfusion(t *testing.T) {
	if testing.Short() {
		t.Skip("a long attack suite over many real connections: the full suite (scripts/test) runs it")
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	must(t, err)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	cfg := testConfig()
	cfg.TokenSecret = ""
	cfg.TokenPublicKey = pemBytes
	n := startNode(t, cfg)
	settled(t, n)

	claims := func(topics ...string) jwt.MapClaims {
		return jwt.MapClaims{"sub": "u", "aud": "pushpoll", "topics": topics, "exp": time.Now().Add(time.Hour).Unix()}
	}
	sign := func(m jwt.SigningMethod, key any, topics ...string) string {
		s, err := jwt.NewWithClaims(m, claims(topics...)).SignedString(key)
		must(t, err)
		return s
	}
	rs := func(topic string) string { return sign(jwt.SigningMethodRS256, priv, topic) }
	suite := newWitness(t, n, sioclient.Options{}, rs)

	trimmed := bytes.TrimSpace(pemBytes)
	cases := []struct{ name, token, reason string }{
		{"HS256 keyed with the PEM", sign(jwt.SigningMethodHS256, pemBytes, "vault"), "bad signature"},
		{"HS256 keyed with the PEM, trimmed", sign(jwt.SigningMethodHS256, trimmed, "vault"), "bad signature"},
		{"HS256 keyed with the DER", sign(jwt.SigningMethodHS256, der, "vault"), "bad signature"},
		{"HS256 with the test secret", token(t, "vault"), "bad signature"},
		{"PS256 with the right key", sign(jwt.SigningMethodPS256, priv, "vault"), "bad signature"},
		{"RS512 with the right key", sign(jwt.SigningMethodRS512, priv, "vault"), "bad signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			healthy := newWitness(t, n, sioclient.Options{Transport: "polling"}, rs)
			c := dial(t, n, sioclient.Options{})
			a := c.subscribe(tc.token, map[string]int64{"vault": 0})
			if len(a.Granted) != 0 || a.Denied["vault"] != tc.reason {
				t.Fatalf("ack %+v, want vault denied %q", a, tc.reason)
			}
			healthy.alive()
		})
	}
	t.Run("RS256 with the right key is granted", func(t *testing.T) {
		c := dial(t, n, sioclient.Options{})
		if a := c.subscribe(rs("vault"), map[string]int64{"vault": 0}); len(a.Granted) != 1 {
			t.Fatalf("ack %+v", a)
		}
	})
	suite.alive()
}

func TestAttackFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("a long attack suite over many real connections: the full suite (scripts/test) runs it")
	}
	n, suite := attackNode(t)
	huge := make(map[string]int64, 20000)
	for i := range 20000 {
		huge[fmt.Sprintf("t:%05d", i)] = 0
	}
	// Just over the 16 KiB frame limit, but well under the 64 KiB polling
	// body limit: over polling this reaches the per-frame check.
	overFrame := make(map[string]int64, 1500)
	for i := range 1500 {
		overFrame[fmt.Sprintf("t:%05d", i)] = 0
	}
	twoMiB := `42["subscribe",{"pad":"` + strings.Repeat("x", 2<<20) + `"}]`

	type attack struct {
		name string
		// do runs the attack on c and may return the error it saw.
		do func(t *testing.T, c *client) error
		// reason is the wire refusal counted, per transport.
		reason map[string]string
	}
	subscribeHuge := func(topics map[string]int64) func(t *testing.T, c *client) error {
		return func(t *testing.T, c *client) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args, err := c.EmitAck(ctx, "subscribe", map[string]any{"token": token(t, "t:*"), "topics": topics})
			if err == nil {
				t.Fatalf("subscribe of %d topics was answered: %s", len(topics), args)
			}
			return err
		}
	}
	raw := func(p string) func(t *testing.T, c *client) error {
		return func(t *testing.T, c *client) error { return c.SendRaw(p) }
	}
	attacks := []attack{
		{"20,000 topics in one subscribe", subscribeHuge(huge),
			map[string]string{"websocket": "frame too large", "polling": "body too large"}},
		{"subscribe frame just over the frame limit", subscribeHuge(overFrame),
			map[string]string{"websocket": "frame too large", "polling": "frame too large"}},
		{"2 MiB frame", raw(twoMiB),
			map[string]string{"websocket": "frame too large", "polling": "body too large"}},
		{"2^64-1 binary attachments", raw(`4518446744073709551615-["x","a"]`),
			map[string]string{"websocket": "binary packet", "polling": "binary packet"}},
		{"1e7 binary attachments", raw(`4510000000-["x","a"]`),
			map[string]string{"websocket": "binary packet", "polling": "binary packet"}},
		{"attachment count on a plain event", raw(`4218446744073709551615-["subscribe",{}]`),
			map[string]string{"websocket": "binary packet", "polling": "binary packet"}},
		// go-socket.io's parser cannot read the event and ends the socket;
		// the wire has nothing to refuse, so no refusal is counted.
		{"malformed JSON event", raw(`42["subscribe",{"token":eyJ}]`), nil},
	}
	for _, a := range attacks {
		for _, tr := range transports {
			t.Run(tr+"/"+a.name, func(t *testing.T) {
				healthy := hsWitness(t, n, transports[0])
				other := hsWitness(t, n, transports[1])
				reason := a.reason[tr]
				before := wireRejected(t, n, reason)
				c := dial(t, n, sioclient.Options{Transport: tr})
				sendErr := a.do(t, c)
				why := ended(t, c, 10*time.Second)
				t.Logf("attacker: send error %v; connection ended: %v", sendErr, why)
				if reason != "" {
					// gorilla answers an over-long frame with close 1009
					// before the transport counts the refusal, so the count
					// may trail the close.
					waitFor(t, 5*time.Second, fmt.Sprintf("one more %q refusal than %v", reason, before), func() bool {
						return wireRejected(t, n, reason) == before+1
					})
				}
				counts(t, n, 3) // the suite's witness and this case's two
				healthy.alive()
				other.alive()
			})
		}
	}

	t.Run("polling/2 MiB POST is answered 413", func(t *testing.T) {
		healthy := hsWitness(t, n, "websocket")
		c := dial(t, n, sioclient.Options{Transport: "polling"})
		before := wireRejected(t, n, "body too large")
		// Straight to the session's POST endpoint, to see its status (the
		// client's own long-poll GET ends at the same moment).
		body := fmt.Sprintf("%d:%s", len(twoMiB), twoMiB)
		req, _ := http.NewRequest(http.MethodPost, n.url+"/socket.io/?EIO=3&transport=polling&b64=1&sid="+c.SID(), strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("2 MiB POST: %d, want 413", resp.StatusCode)
		}
		t.Logf("the client's long-poll GET ended with: %v", ended(t, c, 5*time.Second))
		if got := wireRejected(t, n, "body too large"); got != before+1 {
			t.Errorf("body-too-large refusals %v -> %v", before, got)
		}
		counts(t, n, 2)
		healthy.alive()
	})

	t.Run("1,001 topics within the frame limit", func(t *testing.T) {
		healthy := hsWitness(t, n, "websocket")
		c := dial(t, n, sioclient.Options{})
		topics := make(map[string]int64, 1001)
		for i := range 1001 {
			topics[strconv.Itoa(i)] = 0
		}
		a := c.subscribe(token(t, "0*", "1*", "2*", "3*", "4*", "5*", "6*", "7*", "8*", "9*"), topics)
		if a.Error != "too many topics: at most 1000 per socket" || len(a.Granted) != 0 {
			t.Fatalf("ack %+v, want a too-many-topics error", a)
		}
		// The socket is refused the batch, not closed.
		if a := c.subscribe(token(t, "fine"), map[string]int64{"fine": 0}); len(a.Granted) != 1 {
			t.Fatalf("follow-up subscribe: %+v", a)
		}
		healthy.alive()
	})

	for _, tr := range transports {
		t.Run(tr+"/unknown events and odd payloads", func(t *testing.T) {
			healthy := hsWitness(t, n, "websocket")
			c := dial(t, n, sioclient.Options{Transport: tr})
			for _, p := range []string{
				`42["nope",1]`,
				`42["__proto__",{"constructor":{}}]`,
				`42["constructor"]`,
				`421["nope",{"a":1}]`,
				`42["stale",{"vault":99}]`,
				`42["unsubscribe",{"not":"a list"}]`,
				`42["unsubscribe","vault"]`,
				`42["report","not an object"]`,
				`42["report",{"topic":"x","found":true,"leadMs":-5}]`,
				`42["subscribe",{"token":"x","topics":{"vault":"not a number"}}]`,
				`42["subscribe",[1,2,3]]`,
				`42["subscribe",null]`,
				`42["subscribe"]`,
			} {
				must(t, c.SendRaw(p))
			}
			// A subscribe whose payload is the wrong shape, with an ack,
			// gets a clear error rather than silence.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			args, err := c.EmitAck(ctx, "subscribe", "just a string")
			if err != nil {
				t.Fatalf("odd subscribe: %v", err)
			}
			var ack struct{ Error string }
			if len(args) != 1 || json.Unmarshal(args[0], &ack) != nil || !strings.HasPrefix(ack.Error, "bad subscribe") {
				t.Fatalf("odd subscribe ack = %s, want a \"bad subscribe\" error", args)
			}
			// The socket still works: it subscribes and gets a hint.
			topic := "after-noise:" + tr
			if a := c.subscribe(token(t, topic), map[string]int64{topic: 0}); len(a.Granted) != 1 {
				t.Fatalf("subscribe after the noise: %+v", a)
			}
			publishHTTP(t, n, publishSecret, fmt.Sprintf(`{"topic":%q,"v":3}`, topic))
			c.waitHint(topic, 3, 5*time.Second)
			if got := c.stale(); len(got) != 1 {
				t.Errorf("hints %v: the fake stale event or the reports caused some", got)
			}
			healthy.alive()
		})
	}
	suite.alive()
	counts(t, n, 1)
}

func TestAttackHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("a long attack suite over many real connections: the full suite (scripts/test) runs it")
	}
	n, suite := attackNode(t)
	healthy := hsWitness(t, n, "polling")

	t.Run("JSONP refused", func(t *testing.T) {
		base := n.srv.Sessions()
		for _, q := range []string{"j=0", "j=alert(1)//"} {
			resp, err := http.Get(n.url + "/socket.io/?EIO=3&transport=polling&" + q)
			must(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "jsonp") ||
				strings.Contains(resp.Header.Get("Content-Type"), "javascript") || strings.Contains(string(body), "alert") {
				t.Fatalf("%s: %d %q (%s)", q, resp.StatusCode, body, resp.Header.Get("Content-Type"))
			}
		}
		if got := n.srv.Sessions(); got != base {
			t.Fatalf("sessions %d -> %d", base, got)
		}
		healthy.alive()
	})

	t.Run("publish refusals", func(t *testing.T) {
		cases := []struct {
			name, secret string
			body         func(topic string, v int64) string
			code         int
			errHas       string
		}{
			{"wrong secret", "wrong-secret-wrong-secret", bump, 401, "secret"},
			{"no secret", "", bump, 401, "secret"},
			{"secret with a suffix", publishSecret + "x", bump, 401, "secret"},
			{"prefix of the secret", publishSecret[:len(publishSecret)-1], bump, 401, "secret"},
			{"admin secret", adminSecret, bump, 401, "secret"},
			{"2 MiB body", publishSecret, func(topic string, v int64) string {
				return fmt.Sprintf(`{"topic":%q,"v":%d,"pad":"%s"}`, topic, v, strings.Repeat("x", 2<<20))
			}, 413, "body over 1048576 bytes"},
			{"truncated JSON", publishSecret, func(string, int64) string { return `{"topic":` }, 400, "bad json"},
			{"not JSON", publishSecret, func(topic string, v int64) string { return fmt.Sprintf("topic=%s&v=%d", topic, v) }, 400, "bad json"},
			{"trailing garbage", publishSecret, func(topic string, v int64) string { return bump(topic, v) + ` {}` }, 400, "bad json"},
			{"v past int64", publishSecret, func(topic string, _ int64) string {
				return fmt.Sprintf(`{"topic":%q,"v":9223372036854775808}`, topic)
			}, 400, "not an int64"},
			{"v in exponent form", publishSecret, func(topic string, _ int64) string { return fmt.Sprintf(`{"topic":%q,"v":1e9}`, topic) }, 400, "not an int64"},
			{"v as a string", publishSecret, func(topic string, v int64) string { return fmt.Sprintf(`{"topic":%q,"v":"%d"}`, topic, v) }, 400, "bad version"},
			{"bad item spoils the batch", publishSecret, func(topic string, v int64) string {
				return "[" + bump(topic, v) + `,{"topic":"a b","v":1}]`
			}, 400, "item 1"},
			{"1,001 items", publishSecret, func(topic string, v int64) string {
				return "[" + strings.Repeat(bump(topic, v)+",", 1000) + bump(topic, v) + "]"
			}, 400, "1 to 1000"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := hsWitness(t, n, "websocket")
				// A version far ahead: had it been published, the witness
				// would get it, and its own next bump would not be newer.
				code, body := publishHTTP(t, n, tc.secret, tc.body(w.topic, w.v+100))
				var e struct{ Error string }
				if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tc.errHas) {
					t.Errorf("got %d %.200s, want %d with a JSON error naming %q", code, body, tc.code, tc.errHas)
				}
				w.alive()
				for _, h := range w.c.stale() {
					if v := h[w.topic]; v > w.v {
						t.Fatalf("the refused publish reached the subscriber: %v", h)
					}
				}
				healthy.alive()
			})
		}
	})

	t.Run("admin refusals", func(t *testing.T) {
		for _, secret := range []string{"", "nope-nope-nope-nope", publishSecret, adminSecret + "x", adminSecret[1:]} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, n.url+"/v1/admin/mode", strings.NewReader(`{"mode":"poll"}`))
				if secret != "" {
					req.Header.Set("Authorization", "Bearer "+secret)
				}
				resp, err := http.DefaultClient.Do(req)
				must(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var e struct{ Error string }
				if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "admin secret") {
					t.Errorf("%s with %q: %d %s, want 401 with a JSON error", method, secret, resp.StatusCode, body)
				}
			}
		}
		if n.srv.Mode() != "push" || healthy.c.lastMode() != "push" {
			t.Fatalf("mode %q, client told %q: a refused admin call changed it", n.srv.Mode(), healthy.c.lastMode())
		}
		// The right secret works, so the refusals above were about the secret.
		req, _ := http.NewRequest(http.MethodGet, n.url+"/v1/admin/mode", nil)
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin GET with the right secret: %d", resp.StatusCode)
		}
		healthy.alive()
	})
	suite.alive()
}

func TestAttackSubscribeRate(t *testing.T) {
	cfg := testConfig()
	cfg.SubscribeBurst = 3
	// No refill within the test: exactly the burst gets through.
	cfg.SubscribeEvery = time.Hour
	n := startNode(t, cfg)
	settled(t, n)
	// The witness spends one of its own socket's subscribes; the limit is
	// per socket, so the attacker's flood below does not touch it.
	healthy := hsWitness(t, n, "websocket")
	c := dial(t, n, sioclient.Options{})
	for i := range 3 {
		topic := fmt.Sprintf("r:%d", i)
		if a := c.subscribe(token(t, topic), map[string]int64{topic: 0}); len(a.Granted) != 1 || a.Error != "" {
			t.Fatalf("subscribe %d within the burst: %+v", i, a)
		}
	}
	for i := range 5 {
		a := c.subscribe(token(t, "r:x"), map[string]int64{"r:x": 0})
		if a.Error != "too many subscribes" || len(a.Granted) != 0 {
			t.Fatalf("subscribe %d past the burst: %+v, want error \"too many subscribes\"", i+4, a)
		}
	}
	// Refused subscribes, not a refused socket: what it holds still works,
	// and what it was refused it does not get.
	publishHTTP(t, n, publishSecret, bump("r:x", 4))
	c.settle("r:0", func(v int64) { publishHTTP(t, n, publishSecret, bump("r:0", v)) })
	c.noHint("r:x")
	healthy.alive()
	fresh := dial(t, n, sioclient.Options{Transport: "polling"})
	if a := fresh.subscribe(token(t, "r:x"), map[string]int64{"r:x": 0}); len(a.Granted) != 1 {
		t.Fatalf("another socket's subscribe: %+v", a)
	}
	if got := metricValue(t, n, `pushpoll_auth_denied_total{reason="rate limited"}`); got != 5 {
		t.Errorf("rate-limited subscribes counted %v, want 5", got)
	}
}

func TestAttackMaxSockets(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSockets = 2
	n := startNode(t, cfg)
	settled(t, n)
	healthy := hsWitness(t, n, "websocket")
	second := hsWitness(t, n, "polling")
	for _, tr := range transports {
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := sioclient.Dial(ctx, n.url, sioclient.Options{Transport: tr})
			cancel()
			if err == nil {
				c.Close()
				t.Fatalf("%s: a third socket was accepted", tr)
			}
			var se *sioclient.StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("%s: third handshake: %v, want HTTP 503", tr, err)
			}
		}
	}
	if got := wireRejected(t, n, "full"); got != 6 {
		t.Errorf("full refusals = %v, want 6", got)
	}
	counts(t, n, 2)
	healthy.alive()
	second.alive()
	// A place frees up, and the next handshake gets it.
	must(t, second.c.Close())
	counts(t, n, 1)
	third := hsWitness(t, n, "polling")
	third.alive()
	healthy.alive()
}

// A socket that never subscribes gets mode notices and nothing else, however
// busy the node is.
func TestAttackSilentSocketGetsNoHints(t *testing.T) {
	cfg := testConfig()
	// Every bump fans out within its publish, so the mode notice that ends
	// the check below comes after all of them (node_test.go, settle).
	cfg.HintThrottle = 0
	n := startNode(t, cfg)
	settled(t, n)
	suite := hsWitness(t, n, "websocket")
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			silent := dial(t, n, sioclient.Options{Transport: tr})
			denied := dial(t, n, sioclient.Options{Transport: tr})
			// Topics of this case's own: the broker announces only a rising
			// version, so the case before's would not fan out again.
			hot, nobody := "busy:"+tr, "nobody:"+tr
			if a := denied.subscribe("garbage", map[string]int64{suite.topic: 0, hot: 0}); len(a.Granted) != 0 {
				t.Fatalf("garbage token granted %v", a.Granted)
			}
			busy := dial(t, n, sioclient.Options{})
			busy.subscribe(token(t, hot), map[string]int64{hot: 0})
			for v := int64(1); v <= 20; v++ {
				publishHTTP(t, n, publishSecret, fmt.Sprintf(`[%s,%s]`, bump(hot, v), bump(nobody, v)))
			}
			suite.alive()
			busy.waitHint(hot, 20, 5*time.Second)
			// A socket holding nothing has no topic to bump as a marker; a
			// mode notice, which every socket gets after any hint queued
			// before it, ends the check instead.
			for _, m := range []notifier.Mode{notifier.ModeShadow, notifier.ModePush} {
				must(t, n.srv.SetMode(m))
				for _, c := range []*client{silent, denied} {
					waitFor(t, 5*time.Second, "mode "+string(m), func() bool { return c.lastMode() == string(m) })
				}
			}
			for _, c := range []*client{silent, denied} {
				if got := c.stale(); len(got) != 0 {
					t.Fatalf("a socket holding no topics got hints %v", got)
				}
			}
		})
	}
}

// bump is a valid publish body.
func bump(topic string, v int64) string { return fmt.Sprintf(`{"topic":%q,"v":%d}`, topic, v) }

// lockedBuffer collects a node's logs; handlers write from many goroutines
// while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsStayOutOfLogsAndMetrics drives every path that logs (refusals,
// bad input, auth in both modes, a Redis outage, shutdown) with secrets in
// all the places a client or operator could put them, then looks for them in
// the logs and in /metrics.
func TestSecretsStayOutOfLogsAndMetrics(t *testing.T) {
	const (
		cookieValue   = "sid=cookie-value-must-not-leak-4711"
		authHeader    = "Bearer app-session-must-not-leak-0815"
		wrongPublish  = "wrong-publish-secret-must-not-leak"
		wrongAdmin    = "wrong-admin-secret-must-not-leak"
		redisPassword = "redis-password-must-not-leak-42"
	)
	app := newFakeApp(t)
	app.grant(cookieValue, `{"topics":["cb:*"],"ttl":300}`)
	rs := redistest.Start(t)
	_, err := rs.Do("CONFIG", "SET", "requirepass", redisPassword)
	must(t, err)

	logs := &lockedBuffer{}
	cfg := testConfig()
	cfg.AdminSecret = adminSecret
	cfg.AuthCallbackURL = app.url
	cfg.RedisURL = "redis://:" + redisPassword + "@" + rs.Addr
	// The test clients do not act on `drain`; the shutdown is only here for
	// its logs.
	cfg.DrainTimeout = time.Second
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := startNode(t, cfg)
	settled(t, n)

	good := token(t, "s:1")
	expired := tokenWith(t, jwt.MapClaims{"sub": "u", "aud": "pushpoll", "topics": []string{"s:1"}, "exp": time.Now().Add(-time.Hour).Unix()})
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "aud": "pushpoll", "topics": []string{"s:1"}, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("forged-secret-forged-secret-forged"))
	secrets := map[string]string{
		"token secret":     testSecret,
		"publish secret":   publishSecret,
		"admin secret":     adminSecret,
		"good token":       good,
		"good token's mac": good[strings.LastIndex(good, ".")+1:],
		"expired token":    expired,
		"forged token":     forged,
		"cookie":           cookieValue,
		"cookie's value":   strings.TrimPrefix(cookieValue, "sid="),
		"authorization":    authHeader,
		"wrong publish":    wrongPublish,
		"wrong admin":      wrongAdmin,
		"redis password":   redisPassword,
	}

	creds := http.Header{"Cookie": {cookieValue}, "Authorization": {authHeader}}
	c := dial(t, n, sioclient.Options{Header: creds})
	if a := c.subscribe(good, map[string]int64{"s:1": 0}); len(a.Granted) != 1 {
		t.Fatalf("good token: %+v", a)
	}
	if a := c.subscribe("", map[string]int64{"cb:1": 0, "other": 0}); len(a.Granted) != 1 {
		t.Fatalf("callback grant: %+v", a)
	}
	for _, tok := range []string{expired, forged, "garbage." + good} {
		c.subscribe(tok, map[string]int64{"s:1": 0, "bad topic": 0})
	}
	// Frames the node refuses or cannot parse, carrying the token.
	must(t, c.SendRaw(`42["unsubscribe",{"token":"`+good+`"}]`))
	bad := dial(t, n, sioclient.Options{Header: creds})
	must(t, bad.SendRaw(`42["subscribe",{"token":`+good+`}]`)) // not JSON: closes the socket
	ended(t, bad, 5*time.Second)
	bad = dial(t, n, sioclient.Options{Header: creds})
	must(t, bad.SendRaw(`4518446744073709551615-["subscribe",{"token":"`+good+`"}]`))
	ended(t, bad, 5*time.Second)
	bad = dial(t, n, sioclient.Options{Header: creds, Transport: "polling"})
	must(t, bad.SendRaw(`42["subscribe",{"token":"`+good+`","pad":"`+strings.Repeat("x", 100<<10)+`"}]`))
	ended(t, bad, 5*time.Second)
	// Refused requests with the token in the query, as a careless client
	// might send it.
	for _, h := range []http.Header{{"Origin": {"https://evil.example"}, "Cookie": {cookieValue}}, {"Cookie": {cookieValue}}} {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/socket.io/?EIO=3&transport=polling&j=1&token="+good, nil)
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
	}
	publishHTTP(t, n, wrongPublish, `{"topic":"s:1","v":1}`)
	publishHTTP(t, n, publishSecret, `{"topic":"`+good+`","v":1}`)
	publishHTTP(t, n, publishSecret, `{"topic":"s:1","v":2}`)
	c.waitHint("s:1", 2, 5*time.Second)
	for _, s := range []string{wrongAdmin, adminSecret} {
		req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/admin/mode", strings.NewReader(`{"mode":"shadow"}`))
		req.Header.Set("Authorization", "Bearer "+s)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
	}
	// The callback app goes away: the node logs what it can about that.
	app.srv.Close()
	other := dial(t, n, sioclient.Options{Header: http.Header{"Cookie": {cookieValue + "-2"}}})
	other.subscribe("", map[string]int64{"cb:2": 0})

	resp, err := http.Get(n.url + "/metrics")
	must(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	// A Redis outage and the shutdown log the link and the drain.
	rs.Kill()
	waitFor(t, 10*time.Second, "link loss noticed", func() bool { return strings.Contains(logs.String(), "redis link lost") })
	n.stop()

	out := logs.String()
	for _, want := range []string{"request refused", "connection rejected", "redis link lost", "drained"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q: the scenario did not reach that path", want)
		}
	}
	// Each line names the part that logged it exactly once: every part
	// derives its logger from the node's, never from another part's.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k := strings.Count(line, `"component":`); k != 1 {
			t.Errorf("%d component fields in %s", k, line)
		}
	}
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the logs contain the %s", name)
		}
		if bytes.Contains(metrics, []byte(s)) {
			t.Errorf("/metrics contains the %s", name)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", out)
	}
}

// TestAttackHugeFlag: a megabyte-sized value on the flag's key or channel
// (anyone with Redis access can write one) is ignored like any bad flag,
// and logged as a short prefix and its size, not whole on every node.
func TestAttackHugeFlag(t *testing.T) {
	logs := &lockedBuffer{}
	cfg := testConfig()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	n := startNode(t, cfg)
	n.srv.Flag(strings.Repeat("x", 5<<20))
	if got := n.srv.Mode(); got != "push" {
		t.Fatalf("mode = %q after a huge flag", got)
	}
	out := logs.String()
	if !strings.Contains(out, "bad feature flag") || !strings.Contains(out, "5242880 bytes") {
		t.Fatalf("the huge flag was not logged with its size:\n%.2000s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 1024 {
			t.Fatalf("a log line of %d bytes", len(line))
		}
	}
}

// TestAttackForgedShadowReports: the shadow figures operators switch to
// push on count only reports from sockets told shadow, about topics they
// hold, at the rate a real page sends them.
func TestAttackForgedShadowReports(t *testing.T) {
	n, healthy := attackNode(t)
	c := dial(t, n, sioclient.Options{})
	if a := c.subscribe(token(t, "r:1"), map[string]int64{"r:1": 0}); len(a.Granted) != 1 {
		t.Fatalf("subscribe: %+v", a)
	}
	hit := func() float64 { return metricValue(t, n, `pushpoll_shadow_reports_total{outcome="hit"}`) }
	ignored := func(reason string) float64 {
		return metricValue(t, n, `pushpoll_shadow_reports_ignored_total{reason="`+reason+`"}`)
	}
	report := func(topic string, times int) {
		for i := 0; i < times; i++ {
			must(t, c.Emit("report", map[string]any{"topic": topic, "hintV": 1, "leadMs": 100, "found": true}))
		}
	}

	report("r:1", 50) // in push mode
	waitFor(t, 10*time.Second, "reports in push mode ignored", func() bool { return ignored("not in shadow mode") == 50 })

	must(t, n.srv.SetMode("shadow"))
	waitFor(t, 5*time.Second, "socket told shadow", func() bool { return c.lastMode() == "shadow" })
	report("r:2", 5) // a topic the socket does not hold
	waitFor(t, 10*time.Second, "reports for a foreign topic ignored", func() bool { return ignored("topic not held") == 5 })
	report("r:1", 100)
	waitFor(t, 10*time.Second, "a flood of reports counted or limited", func() bool {
		return hit()+ignored("rate limited") == 100
	})
	// The bucket holds 20; 5 went to the foreign topic, and a few more may
	// have been refilled while the flood was read.
	if h := hit(); h < 1 || h > 25 {
		t.Errorf("%v of a flood of 100 reports counted, want at most the burst", h)
	}
	healthy.alive()
}

// TestAttackInventedTopics: one prefix grant lets a client name any number
// of topics under it, each a Redis channel. The credential's prefix-granted
// topics and the node's topics are bounded; a subscribe past either is
// refused whole with an ack error and counted.
func TestAttackInventedTopics(t *testing.T) {
	cfg := testConfig()
	cfg.MaxTopics = 61 // the witness's topic and 60 more
	cfg.MaxPrefixTopics = 40
	n := startNode(t, cfg)
	settled(t, n)
	healthy := hsWitness(t, n, "websocket")
	topics := func(prefix string, from, to int) map[string]int64 {
		m := map[string]int64{}
		for i := from; i < to; i++ {
			m[fmt.Sprintf("%s%d", prefix, i)] = 0
		}
		return m
	}
	prefixToken := token(t, "l:*")
	a, b := dial(t, n, sioclient.Options{}), dial(t, n, sioclient.Options{Transport: "polling"})
	if ack := a.subscribe(prefixToken, topics("l:", 0, 30)); len(ack.Granted) != 30 {
		t.Fatalf("30 invented topics, within the bound: %+v", ack)
	}
	ack := b.subscribe(prefixToken, topics("l:", 30, 50))
	if len(ack.Granted) != 0 || ack.Error != "too many topics granted by prefix: at most 40 per credential on this node" {
		t.Fatalf("another socket of the credential past its bound: %+v", ack)
	}
	if ack := b.subscribe(prefixToken, topics("l:", 0, 10)); len(ack.Granted) != 10 {
		t.Fatalf("topics the credential already holds cost nothing more: %+v", ack)
	}
	exact := make([]string, 0, 40)
	for topic := range topics("x:", 0, 40) {
		exact = append(exact, topic)
	}
	other := tokenWith(t, jwt.MapClaims{"sub": "user-2", "aud": "pushpoll", "topics": exact, "exp": time.Now().Add(time.Hour).Unix()})
	ack = dial(t, n, sioclient.Options{}).subscribe(other, topics("x:", 0, 40))
	if len(ack.Granted) != 0 || ack.Error != "too many topics on this node: at most 61" {
		t.Fatalf("past the node's bound: %+v", ack)
	}
	for _, reason := range []string{"prefix topic limit", "node topic limit"} {
		if got := metricValue(t, n, `pushpoll_auth_denied_total{reason="`+reason+`"}`); got != 1 {
			t.Errorf("%s counted %v times, want 1", reason, got)
		}
	}
	if got := metricValue(t, n, "pushpoll_topics"); got != 31 {
		t.Errorf("pushpoll_topics = %v, want 31: refused subscribes keep nothing", got)
	}
	healthy.alive()
}

// TestAttackSlowBodies: connections that trickle a request body, on every
// path (a handler that reads it, one that refuses before reading, one that
// never looks at it), are closed once the body timeout has passed, not
// held for as long as the client keeps trickling.
func TestAttackSlowBodies(t *testing.T) {
	cfg := testConfig()
	cfg.BodyTimeout = 500 * time.Millisecond
	n := startNode(t, cfg)
	healthy := hsWitness(t, n, "polling")
	resp, err := http.Get(n.url + "/socket.io/?EIO=3&transport=polling&b64=1")
	must(t, err)
	hs, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := string(hs)[strings.Index(string(hs), `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	for _, target := range []string{
		"POST /socket.io/?EIO=3&transport=polling&b64=1&sid=" + sid,
		"POST /v1/publish", // refused for its bearer before the body is read
		"GET /healthz",     // never reads a body
	} {
		t.Run(target, func(t *testing.T) {
			conn, err := net.Dial("tcp", n.addr)
			must(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = fmt.Fprintf(conn, "%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer wrong-wrong-wrong\r\nContent-Type: text/plain\r\nContent-Length: 200000\r\n\r\nx", target, n.addr)
			must(t, err)
			// Keep trickling, as the attacker does, until the node hangs up.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						if _, err := conn.Write([]byte("x")); err != nil {
							return
						}
					}
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			// Until the node closes: a FIN, or a reset when it hangs up on
			// the unread rest of the body. Only the deadline means it held on.
			_, err = io.Copy(io.Discard, conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after %v", time.Since(start).Round(time.Millisecond))
			}
		})
	}
	healthy.alive()
}

// TestAttackIdleConnections: connections past --max-http-conns are closed
// at once, so idle or slow connections cannot take every descriptor, and
// the node serves again as soon as they go.
func TestAttackIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("a long attack suite over many real connections: the full suite (scripts/test) runs it")
	}
	cfg := testConfig()
	cfg.MaxHTTPConns = 8
	n := startNode(t, cfg)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := 0
	for range 20 {
		c, err := net.Dial("tcp", n.addr)
		must(t, err)
		conns = append(conns, c)
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			refused++
		}
	}
	// Eight more than the bound are let in for probes (probeRoom).
	if refused < 4 {
		t.Fatalf("%d of 20 idle connections refused with 8 allowed and 8 more for probes", refused)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	waitFor(t, 10*time.Second, "the node serves again", func() bool {
		resp, err := client.Get(n.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if got := metricValue(t, n, `pushpoll_wire_rejected_total{reason="too many connections"}`); got < 4 {
		t.Errorf("refusals counted: %v", got)
	}
}

// TestAttackBareSockets: sockets that never hold a topic are closed once
// --subscribe-timeout has passed, on both transports and whether they sent
// nothing or only a refused subscribe; a subscribed socket stays.
func TestAttackBareSockets(t *testing.T) {
	cfg := testConfig()
	cfg.SubscribeTimeout = time.Second
	n := startNode(t, cfg)
	settled(t, n)
	healthy := hsWitness(t, n, "websocket")
	var bare []*client
	for _, tr := range transports {
		bare = append(bare, dial(t, n, sioclient.Options{Transport: tr}))
		denied := dial(t, n, sioclient.Options{Transport: tr})
		if a := denied.subscribe("garbage", map[string]int64{"x": 0}); len(a.Granted) != 0 {
			t.Fatalf("garbage token granted %v", a.Granted)
		}
		bare = append(bare, denied)
	}
	for _, c := range bare {
		ended(t, c, 10*time.Second)
	}
	counts(t, n, 1)
	if got := wireRejected(t, n, "no subscribe"); got != float64(len(bare)) {
		t.Errorf("no-subscribe closes counted %v, want %d", got, len(bare))
	}
	healthy.alive()
}

// TestAttackSocketsPerClient: one client address holds at most
// --max-sockets-per-client sockets. Behind a trusted balancer the address is
// the one the balancer appended to X-Forwarded-For, so clients behind it
// are told apart and a forged entry changes nothing; from an untrusted
// peer the header is ignored.
func TestAttackSocketsPerClient(t *testing.T) {
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	refused := func(t *testing.T, n *node, tr string, h http.Header) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := sioclient.Dial(ctx, n.url, sioclient.Options{Transport: tr, Header: h})
		if err == nil {
			c.Close()
			t.Fatalf("%s %v: a socket past the per-client bound was accepted", tr, h)
		}
		var se *sioclient.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s %v: %v, want HTTP 429", tr, h, err)
		}
	}
	t.Run("behind a trusted balancer", func(t *testing.T) {
		cfg := testConfig()
		cfg.TrustedProxies = []string{"127.0.0.1/32"}
		cfg.MaxSocketsPerClient = 3
		n := startNode(t, cfg)
		settled(t, n)
		healthy := newWitness(t, n, sioclient.Options{Header: xff("198.51.100.1")}, func(topic string) string { return token(t, topic) })
		var mine []*client
		for i := range 3 {
			// The attacker's own entries left of the balancer's are not believed.
			mine = append(mine, dial(t, n, sioclient.Options{Transport: transports[i%2], Header: xff(fmt.Sprintf("10.0.0.%d, 203.0.113.9", i))}))
		}
		// A client sees its connect before the node has counted it; a
		// handshake racing that is closed at once rather than refused.
		counts(t, n, 4)
		for _, tr := range transports {
			refused(t, n, tr, xff("198.51.100.77, 203.0.113.9"))
		}
		if got := wireRejected(t, n, "per client"); got != 2 {
			t.Errorf("per-client refusals = %v, want 2", got)
		}
		// Another client behind the same balancer is its own.
		other := newWitness(t, n, sioclient.Options{Transport: "polling", Header: xff("198.51.100.2")}, func(topic string) string { return token(t, topic) })
		must(t, mine[0].Close())
		counts(t, n, 4)
		dial(t, n, sioclient.Options{Header: xff("203.0.113.9")})
		counts(t, n, 5)
		refused(t, n, "websocket", xff("203.0.113.9"))
		healthy.alive()
		other.alive()
	})
	t.Run("header from an untrusted peer", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxSocketsPerClient = 3
		n := startNode(t, cfg)
		settled(t, n)
		healthy := hsWitness(t, n, "websocket")
		dial(t, n, sioclient.Options{Header: xff("198.51.100.1")})
		dial(t, n, sioclient.Options{Transport: "polling", Header: xff("198.51.100.2")})
		counts(t, n, 3)
		refused(t, n, "websocket", xff("198.51.100.3"))
		refused(t, n, "polling", nil)
		counts(t, n, 3)
		healthy.alive()
	})
}

// TestAttackProbesNeverLockedOut: 100 keep-alive connections that made one
// request each and then sit idle, with --max-http-conns 20, used to hold
// every place: probes, scrapes, publishes and new clients all failed. Now
// the longest idle ones are closed to make room, and connections that
// cannot be shed (requests still arriving) leave a little room that serves
// probes only.
func TestAttackProbesNeverLockedOut(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHTTPConns = 20
	cfg.DrainTimeout = 500 * time.Millisecond // the test's clients do not move on drain
	n := startNode(t, cfg)
	settled(t, n)
	healthy := hsWitness(t, n, "websocket") // a websocket is not an HTTP connection
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(path string) int {
		t.Helper()
		resp, err := fresh.Get(n.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hold := func(c net.Conn) {
		t.Cleanup(func() { c.Close() })
	}
	for range 100 {
		c, err := net.Dial("tcp", n.addr)
		must(t, err)
		hold(c)
		if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			continue // shed or refused already
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Read(make([]byte, 512)) // the answer; then it sits idle
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code := get(path); code != http.StatusOK {
			t.Fatalf("GET %s after 100 idle keep-alives: %d", path, code)
		}
	}
	healthy.alive() // a publish over HTTP, and its hint
	newcomer := hsWitness(t, n, "polling")
	newcomer.alive()
	if got := metricValue(t, n, `pushpoll_wire_rejected_total{reason="idle keep-alive shed"}`); got < 60 {
		t.Errorf("idle keep-alives shed: %v, want most of the 100", got)
	}

	// Connections still sending their request headers cannot be shed: they
	// fill the bound, and the room past it serves probes only.
	for range 20 {
		c, err := net.Dial("tcp", n.addr)
		must(t, err)
		hold(c)
		_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	}
	waitFor(t, 5*time.Second, "the bound filled with slow requests", func() bool {
		resp, err := fresh.Get(n.url + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	for range 20 {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code := get(path); code != http.StatusOK {
				t.Fatalf("probe %s with the bound full: %d", path, code)
			}
		}
	}
}

// TestAttackJunkCookies: in callback mode the prefix budget used to be keyed
// on a hash of the whole Cookie header, so one session plus junk=1..5 got
// six budgets, filled --max-topics and locked a real user out. Now the
// budget is keyed on the user: the sub the app's answer names, or the
// session cookie the operator names, or failing both the client address.
func TestAttackJunkCookies(t *testing.T) {
	// The app reads its own session cookie and ignores the rest, as apps do.
	app := func(withSub bool) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sid, err := r.Cookie("sid")
			if err != nil {
				http.Error(w, "who are you", http.StatusForbidden)
				return
			}
			sub := ""
			if withSub {
				sub = `,"sub":"` + sid.Value + `"`
			}
			fmt.Fprintf(w, `{"topics":["doc:*"],"ttl":300%s}`, sub)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	topics := func(user string, from int) map[string]int64 {
		m := map[string]int64{}
		for i := from; i < from+50; i++ {
			m[fmt.Sprintf("doc:%s:%d", user, i)] = 0
		}
		return m
	}
	cases := []struct {
		name   string
		setup  func(*notifier.Config)
		header func(user string, junk int) http.Header
	}{
		{"the answer names the user", func(c *notifier.Config) { c.AuthCallbackURL = app(true) },
			func(user string, junk int) http.Header {
				return http.Header{"Cookie": {fmt.Sprintf("sid=%s; junk=%d", user, junk)}}
			}},
		{"a named session cookie", func(c *notifier.Config) { c.AuthCallbackURL, c.CallbackSessionCookie = app(false), "sid" },
			func(user string, junk int) http.Header {
				return http.Header{"Cookie": {fmt.Sprintf("junk=%d; sid=%s", junk, user)}}
			}},
		{"neither: the client address", func(c *notifier.Config) {
			c.AuthCallbackURL, c.TrustedProxies = app(false), []string{"127.0.0.1/32"}
		}, func(user string, junk int) http.Header {
			addr := map[string]string{"mallory": "198.51.100.66", "alice": "198.51.100.7"}[user]
			return http.Header{"Cookie": {fmt.Sprintf("sid=%s; junk=%d", user, junk)}, "X-Forwarded-For": {addr}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxPrefixTopics = 50
			cfg.MaxTopics = 120
			c.setup(&cfg)
			n := startNode(t, cfg)
			settled(t, n)
			healthy := hsWitness(t, n, "websocket")
			first := dial(t, n, sioclient.Options{Header: c.header("mallory", 0)})
			if a := first.subscribe("", topics("mallory", 0)); len(a.Granted) != 50 {
				t.Fatalf("the attacker's first 50: %+v", a)
			}
			for junk := 1; junk <= 5; junk++ {
				a := dial(t, n, sioclient.Options{Header: c.header("mallory", junk)}).subscribe("", topics("mallory", junk*50))
				if len(a.Granted) != 0 || !strings.Contains(a.Error, "per credential") {
					t.Fatalf("junk=%d: a fresh budget: %d granted, error %q", junk, len(a.Granted), a.Error)
				}
			}
			if got := metricValue(t, n, `pushpoll_auth_denied_total{reason="prefix topic limit"}`); got != 5 {
				t.Errorf("prefix-limit refusals counted %v, want 5", got)
			}
			if a := dial(t, n, sioclient.Options{Header: c.header("alice", 0)}).subscribe("", topics("alice", 0)); len(a.Granted) != 50 {
				t.Fatalf("the real user was refused: %d granted, error %q", len(a.Granted), a.Error)
			}
			healthy.alive()
		})
	}
}

// TestAttackPrefixReachesNodeKeys: with --channel-prefix pushpoll- the
// publish API used to write pushpoll-node:<id> (the node registry) and
// break forwarding to that node. The node's own keys and channels now carry
// '#', which no topic and no valid prefix holds, so a publish of any topic
// under any prefix cannot reach them; a prefix that could is refused.
func TestAttackPrefixReachesNodeKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("real redis-server")
	}
	rs := redistest.Start(t)
	var nodes []*node
	for range 2 {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.ChannelPrefix = "pushpoll-"
		cfg.DrainTimeout = 500 * time.Millisecond
		nodes = append(nodes, startNode(t, cfg))
	}
	reg := advertised(t, rs)
	if len(reg) != 2 {
		t.Fatalf("registry %v", reg)
	}
	for id := range reg {
		for _, topic := range []string{"node:" + id, "canary:" + id} {
			if code, body := publishHTTP(t, nodes[0], publishSecret, bump(topic, 1)); code != http.StatusAccepted {
				t.Fatalf("publish %s: %d %s", topic, code, body)
			}
		}
	}
	if after := advertised(t, rs); !maps.Equal(after, reg) {
		t.Fatalf("the registry changed under publishes: %v -> %v", reg, after)
	}
	pollThroughBalancer(t, nodes) // forwarding between the nodes still works
	for _, n := range nodes {
		if got := metricValue(t, n, "pushpoll_push_trusted"); got != 1 {
			t.Errorf("a node no longer trusts its link: the canary was disturbed")
		}
	}

	for _, prefix := range []string{"", "pushpoll#", "a b", "x*", "p\n", strings.Repeat("p", 65)} {
		cfg := testConfig()
		cfg.ChannelPrefix = prefix
		if _, err := notifier.New(cfg); err == nil || !strings.Contains(err.Error(), "--channel-prefix") {
			t.Errorf("prefix %q: %v, want a refusal naming --channel-prefix", prefix, err)
		}
	}
	for _, prefix := range []string{"pushpoll:", "app-1/", "{pp}:"} {
		cfg := testConfig()
		cfg.ChannelPrefix = prefix
		if _, err := notifier.New(cfg); err != nil {
			t.Errorf("prefix %q refused: %v", prefix, err)
		}
	}
}

// TestAttackForwardedCredentials: a forwarded poll used to carry the
// browser's Cookie and Authorization to whatever address Redis held for the
// session's node, and pass the answer back unchanged. Now neither header
// leaves the node, an answer never sets a cookie, and with --node-secret
// the nodes sign their forwarded requests and answers: an address that is
// not a node of ours gets nothing answered through us, and a request that
// claims to be forwarded without the secret is refused.
func TestAttackForwardedCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("real redis-server")
	}
	const secret = "node-secret-0123456789abcdef0123456789"
	rs := redistest.Start(t)
	start := func(nodeSecret string) *node {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.NodeSecret = nodeSecret
		cfg.DrainTimeout = 500 * time.Millisecond
		return startNode(t, cfg)
	}
	signed, open := start(secret), start("")

	// Whatever Redis holds for node "planted0" (someone with Redis access
	// wrote it) records what reaches it and tries to set a cookie.
	var mu sync.Mutex
	var got []http.Header
	planted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "planted"})
		io.WriteString(w, "1:6")
	}))
	t.Cleanup(planted.Close)
	_, err := rs.Do("SET", "pushpoll#node:planted0", planted.URL)
	must(t, err)
	poll := func(n *node) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.url+"/socket.io/?EIO=3&transport=polling&sid=planted0AAAAAAAAAAAAAAAAAAAAAA", nil)
		req.Header.Set("Cookie", "session=browser-cookie")
		req.Header.Set("Authorization", "Bearer browser-token")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp
	}
	resp := poll(open)
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
		t.Fatalf("without a node secret: %d, cookies %v; want the answer without its cookie", resp.StatusCode, resp.Cookies())
	}
	resp = poll(signed)
	if resp.StatusCode != http.StatusBadGateway || len(resp.Cookies()) != 0 {
		t.Fatalf("with a node secret, an unsigned answer: %d, cookies %v; want 502", resp.StatusCode, resp.Cookies())
	}
	if v := metricValue(t, signed, `pushpoll_forwarded_requests_total{result="unauthenticated"}`); v != 1 {
		t.Errorf("unauthenticated answers counted %v, want 1", v)
	}
	mu.Lock()
	for i, h := range got {
		if h.Get("Cookie") != "" || h.Get("Authorization") != "" {
			t.Errorf("forward %d carried the browser's credentials: Cookie %q, Authorization %q", i, h.Get("Cookie"), h.Get("Authorization"))
		}
	}
	if len(got) != 2 || got[0].Get(socketio.NodeAuthHeader) != "" || got[1].Get(socketio.NodeAuthHeader) == "" {
		t.Errorf("forwards seen %d; the signed node must sign, the open one not", len(got))
	}
	mu.Unlock()

	// A request that claims to come from a node, straight to the owner.
	c := dial(t, signed, sioclient.Options{Transport: "polling"})
	for _, proof := range []string{"", "1.00", fmt.Sprintf("%d.%x", time.Now().Unix(), make([]byte, 32))} {
		req, _ := http.NewRequest(http.MethodGet, signed.url+"/socket.io/?EIO=3&transport=polling&sid="+c.SID(), nil)
		req.Header.Set(socketio.ForwardedHeader, "planted0")
		if proof != "" {
			req.Header.Set(socketio.NodeAuthHeader, proof)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged forward with proof %q: %d, want 403", proof, resp.StatusCode)
		}
	}
	if v := wireRejected(t, signed, "forward auth"); v != 3 {
		t.Errorf("forged forwards counted %v, want 3", v)
	}
	if a := c.subscribe(token(t, "f"), map[string]int64{"f": 0}); len(a.Granted) != 1 {
		t.Fatalf("the session the forgeries named: %+v", a)
	}

	// Nodes that share the secret forward to each other as before.
	must(t, c.Close())
	counts(t, signed, 0)
	peer := start(secret)
	pollThroughBalancer(t, []*node{signed, peer})
}

// redisCalls is how many times Redis ran cmd (INFO commandstats).
func redisCalls(t *testing.T, rs *redistest.Server, cmd string) int {
	t.Helper()
	info, err := rs.Do("INFO", "commandstats")
	must(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// TestAttackUnknownNodeIds: 300 forged polls naming a node no one runs
// used to cost 300 Redis GETs. Misses are remembered for a few seconds and
// concurrent lookups of one id share one GET; every poll is still answered
// 400 and counted.
func TestAttackUnknownNodeIds(t *testing.T) {
	if testing.Short() {
		t.Skip("real redis-server")
	}
	rs, nodes := cluster(t, 1)
	n := nodes[0]
	before := redisCalls(t, rs, "get")
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Three forged ids, a hundred polls each, all at once.
			resp, err := http.Get(n.url + "/socket.io/?EIO=3&transport=polling&sid=" + fmt.Sprintf("forged0%d", i%3) + "AAAAAAAAAAAAAAAAAAAAAA")
			if err != nil {
				wrong.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	if w := wrong.Load(); w != 0 {
		t.Fatalf("%d forged polls not answered 400", w)
	}
	// The node's own reads (the feature flag's poll) may fall in the window
	// too, so the bound leaves room for them; without the cache it is 300.
	if gets := redisCalls(t, rs, "get") - before; gets > 15 {
		t.Errorf("300 forged polls naming 3 ids cost %d Redis GETs, want a few per id, not one per poll", gets)
	}
	if v := metricValue(t, n, `pushpoll_forwarded_requests_total{result="unknown node"}`); v != 300 {
		t.Errorf("unknown-node outcomes counted %v, want 300", v)
	}
	// A real node is still found at once, however many misses came first.
	pollThroughBalancer(t, append(nodes, startNode(t, func() notifier.Config {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.DrainTimeout = 500 * time.Millisecond
		return cfg
	}())))
}

// TestAttackDenialCount: one subscribe of 1000 topics the token does not
// cover used to add 1000 to pushpoll_auth_denied_total. A refusal now
// counts once per subscribe, under each reason it met.
func TestAttackDenialCount(t *testing.T) {
	n, healthy := attackNode(t)
	c := dial(t, n, sioclient.Options{})
	many := map[string]int64{}
	for i := range 1000 {
		many[fmt.Sprintf("d%d", i)] = 0
	}
	denied := func(reason string) float64 {
		return metricValue(t, n, `pushpoll_auth_denied_total{reason="`+reason+`"}`)
	}
	if a := c.subscribe(token(t, "other"), many); len(a.Granted) != 0 || len(a.Denied) != 1000 {
		t.Fatalf("1000 topics not in the token: %d granted, %d denied", len(a.Granted), len(a.Denied))
	}
	if got := denied("not in token"); got != 1 {
		t.Errorf("one subscribe of 1000 uncovered topics counted %v times, want 1", got)
	}
	mixed := map[string]int64{"bad topic": 0, "worse topic": 0, "mode": 0, "x:1": 0, "x:2": 0, "ok": 0}
	if a := c.subscribe(token(t, "ok"), mixed); len(a.Granted) != 1 || len(a.Denied) != 5 {
		t.Fatalf("mixed subscribe: %+v", a)
	}
	for reason, want := range map[string]float64{"not in token": 2, "invalid topic": 1, "reserved topic": 1} {
		if got := denied(reason); got != want {
			t.Errorf("%s counted %v, want %v", reason, got, want)
		}
	}
	must(t, c.SendRaw(`42["subscribe",{"token":1}]`))
	waitFor(t, 5*time.Second, "a malformed subscribe counted", func() bool { return denied("bad subscribe") == 1 })
	healthy.alive()
}

// TestAttackShadowReportsAcrossSockets: one token on 50 sockets used to get
// 50 report budgets and record 1000 `missed` reports in under a second. The
// budget is now per credential too; another user's reports still count.
func TestAttackShadowReportsAcrossSockets(t *testing.T) {
	n, healthy := attackNode(t)
	must(t, n.srv.SetMode("shadow"))
	missed := func() float64 { return metricValue(t, n, `pushpoll_shadow_reports_total{outcome="missed"}`) }
	limited := func() float64 {
		return metricValue(t, n, `pushpoll_shadow_reports_ignored_total{reason="credential rate limited"}`)
	}
	tok := token(t, "r:1")
	var socks []*client
	for range 50 {
		c := dial(t, n, sioclient.Options{})
		if a := c.subscribe(tok, map[string]int64{"r:1": 0}); len(a.Granted) != 1 {
			t.Fatalf("subscribe: %+v", a)
		}
		socks = append(socks, c)
	}
	for _, c := range socks {
		waitFor(t, 5*time.Second, "socket told shadow", func() bool { return c.lastMode() == "shadow" })
	}
	for _, c := range socks {
		for range 20 { // within each socket's own burst
			must(t, c.Emit("report", map[string]any{"topic": "r:1", "missed": true}))
		}
	}
	waitFor(t, 10*time.Second, "1000 reports counted or limited", func() bool { return missed()+limited() == 1000 })
	// The credential's burst is 20; a few more may refill while they arrive.
	if m := missed(); m > 30 {
		t.Errorf("one credential on 50 sockets recorded %v missed reports, want about its burst of 20", m)
	}
	other := dial(t, n, sioclient.Options{})
	otherTok := tokenWith(t, jwt.MapClaims{"sub": "user-2", "aud": "pushpoll", "topics": []string{"r:1"}, "exp": time.Now().Add(time.Hour).Unix()})
	if a := other.subscribe(otherTok, map[string]int64{"r:1": 0}); len(a.Granted) != 1 {
		t.Fatalf("other user: %+v", a)
	}
	before := missed()
	for range 5 {
		must(t, other.Emit("report", map[string]any{"topic": "r:1", "missed": true}))
	}
	waitFor(t, 10*time.Second, "another user's reports counted", func() bool { return missed() == before+5 })
	must(t, n.srv.SetMode("push"))
	healthy.alive()
}
