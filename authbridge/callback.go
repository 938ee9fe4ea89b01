package authbridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

const (
	// maxCallbackBody bounds what we read from the app; an answer listing
	// thousands of patterns still fits.
	maxCallbackBody = 1 << 20
	// maxDrainBody is how much of an unread body we consume so the
	// connection can go back to the pool; past that, closing is cheaper.
	maxDrainBody = 64 << 10
)

// callbackClient asks the app what a credential may receive.
type callbackClient struct {
	url     string
	timeout time.Duration
	client  *http.Client
	cache   *grantCache
	// defaultTTL is the lifetime of an answer that names none; maxTTL caps
	// every answer's, so a credential the app has since revoked stops
	// receiving hints within it, whatever the app asked for.
	defaultTTL, maxTTL time.Duration
	// sessionCookie names the cookie that identifies the user (who).
	sessionCookie string
	observe       func(result string, took time.Duration) // Config.OnCallback
	// flight makes concurrent subscribes with one credential (a reconnect
	// storm after a deploy) share a single call to the app.
	flight singleflight.Group
	// waiting, when set (by tests), is called once a caller waits on a
	// flight, its own or another's.
	waiting func()
}

// flightResult is a flight's answer and the topics it asked the app about;
// asked is nil when the answer came from the cache.
type flightResult struct {
	grant callbackGrant
	asked map[string]struct{}
}

// answers reports whether r decides every one of topics: the app was asked
// about it, or its answer grants it anyway. A caller that joined another's
// flight may have topics the app was never asked about; the contract says
// the answer lists all the credential may receive, but an app that only
// answers for the topics it was asked must still decide them.
func (r flightResult) answers(topics []string) bool {
	if r.asked == nil {
		return true
	}
	for _, t := range topics {
		if _, ok := r.asked[t]; !ok && !r.grant.grants.covers(t) {
			return false
		}
	}
	return true
}

func newCallbackClient(cfg Config) *callbackClient {
	client := cfg.HTTPClient
	if client == nil {
		client = newHTTPClient(cfg.CallbackTimeout)
	}
	return &callbackClient{
		url:     cfg.CallbackURL,
		timeout: cfg.CallbackTimeout,
		client:  client,
		cache:   newGrantCache(cfg.CallbackCacheEntries),

		observe:       cfg.OnCallback,
		defaultTTL:    cfg.CallbackDefaultTTL,
		maxTTL:        cfg.CallbackMaxTTL,
		sessionCookie: cfg.CallbackSessionCookie,
	}
}

// newHTTPClient builds the pooled client used when the caller gives none.
func newHTTPClient(timeout time.Duration) *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	// Keep-alive turns a ~200 ms call (TCP and TLS handshakes) into a
	// ~20 ms one. Every call goes to the same host, so the per-host idle
	// pool is the one that matters; the default of 2 would close most
	// connections after a burst and pay the handshakes again.
	t.MaxIdleConnsPerHost = 64
	// 90 s outlives the gaps between subscribe bursts on a quiet node while
	// staying under the idle timeouts common in app servers' proxies.
	t.IdleConnTimeout = 90 * time.Second
	// A reconnect storm of many distinct credentials must not open
	// thousands of connections to the app at once; extra calls wait for a
	// connection within their timeout and are denied "auth unavailable"
	// past it, and their clients poll meanwhile.
	t.MaxConnsPerHost = 256
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		// Credentials are forwarded to the configured URL only, never to
		// wherever a redirect points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// credentialKey hashes the two headers with their lengths, so that no two
// different pairs can produce the same input.
func credentialKey(cookie, authorization string) credential {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(cookie)))
	h.Write(n[:])
	h.Write([]byte(cookie))
	binary.BigEndian.PutUint64(n[:], uint64(len(authorization)))
	h.Write(n[:])
	h.Write([]byte(authorization))
	var k credential
	h.Sum(k[:0])
	return k
}

// authorize answers from the cache or asks the app. Failures are never
// cached: the next subscribe tries again.
func (c *callbackClient) authorize(ctx context.Context, req Request, now time.Time) Decision {
	key := credentialKey(req.Cookie, req.Authorization)
	if g, ok := c.cache.get(key, now); ok {
		return c.decide(req, g)
	}
	ch := c.flight.DoChan(string(key[:]), func() (any, error) {
		// A flight that just finished may have filled the cache between
		// our miss above and this flight starting.
		if g, ok := c.cache.get(key, now); ok {
			return flightResult{grant: g}, nil
		}
		return c.ask(ctx, key, req, now)
	})
	if c.waiting != nil {
		c.waiting()
	}
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return denyAll(req.Topics, ErrAuthUnavailable)
	}
	if res.Err == nil && !res.Val.(flightResult).answers(req.Topics) {
		// Joined a flight that asked about other topics: ask about ours.
		v, err := c.ask(ctx, key, req, now)
		res = singleflight.Result{Val: v, Err: err}
	}
	if res.Err != nil {
		return denyAll(req.Topics, res.Err)
	}
	g := res.Val.(flightResult).grant
	return c.decide(req, g)
}

// decide matches req's topics against an answer for its credential.
func (c *callbackClient) decide(req Request, g callbackGrant) Decision {
	d := decide(req.Topics, g.grants, ErrNotAuthorized, g.expires)
	if len(d.Granted) > 0 {
		d.Credential = c.who(req, g)
	}
	return d
}

// who names the user behind a callback grant for the node's per-credential
// bounds. Never the raw Cookie header: a client may add any cookies it
// likes (junk=1, junk=2…) that the app ignores, and each variant would be a
// fresh budget. In order: the sub the app's answer names; the session
// cookie named by --auth-callback-session-cookie, if it appears exactly
// once (the app might read either of two); the Authorization header; and
// failing those, the client's address, which a client cannot vary at will.
// Hashes name a value without being worth anything to whoever reads them.
func (c *callbackClient) who(req Request, g callbackGrant) string {
	if g.sub != "" {
		return "sub:" + g.sub
	}
	if c.sessionCookie != "" {
		if v, ok := cookieValue(req.Cookie, c.sessionCookie); ok {
			return "cookie:" + shortHash(v)
		}
	}
	if req.Authorization != "" {
		return "authorization:" + shortHash(req.Authorization)
	}
	return "client:" + req.Client
}

// cookieValue is the value of the cookie called name in a Cookie header,
// if it is there exactly once.
func cookieValue(header, name string) (string, bool) {
	var value string
	found := 0
	for _, part := range strings.Split(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			value = v
			found++
		}
	}
	return value, found == 1
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// ask calls the app about req's topics and caches its answer.
func (c *callbackClient) ask(ctx context.Context, key credential, req Request, now time.Time) (any, error) {
	g, err := c.call(ctx, req, now)
	if err != nil {
		return nil, err
	}
	// Stored before the flight ends, so nobody can miss both.
	c.cache.put(key, g, now)
	asked := make(map[string]struct{}, len(req.Topics))
	for _, t := range req.Topics {
		asked[t] = struct{}{}
	}
	return flightResult{grant: g, asked: asked}, nil
}

type callbackRequest struct {
	Topics []string `json:"topics"`
}

type callbackResponse struct {
	Topics []string `json:"topics"`
	TTL    float64  `json:"ttl"`
	// Sub names the user, for the node's per-user bounds; optional.
	Sub string `json:"sub"`
}

// maxSubBytes bounds the sub an answer may name: it is kept per socket.
const maxSubBytes = 256

// call makes one request to the app. The errors wrap ErrNotAuthorized or
// ErrAuthUnavailable.
func (c *callbackClient) call(ctx context.Context, req Request, now time.Time) (_ callbackGrant, err error) {
	start, result := time.Now(), CallbackUnreachable
	if c.observe != nil {
		defer func() { c.observe(result, time.Since(start)) }()
	}
	// The flight serves every waiter, so one of them going away must not
	// cancel it for the others; the timeout still bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()

	body, err := json.Marshal(callbackRequest{Topics: req.Topics})
	if err != nil {
		return callbackGrant{}, fmt.Errorf("%w: encode request: %w", ErrAuthUnavailable, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return callbackGrant{}, fmt.Errorf("%w: build request: %w", ErrAuthUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if req.Cookie != "" {
		hreq.Header.Set("Cookie", req.Cookie)
	}
	if req.Authorization != "" {
		hreq.Header.Set("Authorization", req.Authorization)
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			result = CallbackTimeout
		}
		return callbackGrant{}, fmt.Errorf("%w: %w", ErrAuthUnavailable, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
		_ = resp.Body.Close()
	}()

	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		result = CallbackDenied
		return callbackGrant{}, fmt.Errorf("%w: status %d", ErrNotAuthorized, resp.StatusCode)
	default:
		// 5xx is the app failing; anything else (a redirect, a 204) is not
		// the contract, and neither says the credential is bad.
		result = CallbackFailed
		return callbackGrant{}, fmt.Errorf("%w: status %d", ErrAuthUnavailable, resp.StatusCode)
	}
	result = CallbackBadAnswer
	var ans callbackResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCallbackBody)).Decode(&ans); err != nil {
		return callbackGrant{}, fmt.Errorf("%w: decode answer: %w", ErrAuthUnavailable, err)
	}
	if ans.Topics == nil {
		// An answer without topics is a broken endpoint, not a refusal.
		return callbackGrant{}, fmt.Errorf("%w: answer has no topics", ErrAuthUnavailable)
	}
	result = CallbackOK
	if len(ans.Sub) > maxSubBytes {
		result = CallbackBadAnswer
		return callbackGrant{}, fmt.Errorf("%w: answer's sub is %d bytes, limit %d", ErrAuthUnavailable, len(ans.Sub), maxSubBytes)
	}
	return callbackGrant{grants: compileGrants(ans.Topics), expires: now.Add(c.lifetime(ans.TTL)), sub: ans.Sub}, nil
}

// Results of one callback request, for Config.OnCallback.
const (
	CallbackOK          = "ok"          // 200 with topics
	CallbackDenied      = "denied"      // 4xx: the credential is refused
	CallbackFailed      = "failed"      // 5xx or a status outside the contract
	CallbackBadAnswer   = "bad_answer"  // 200 whose body is not the contract
	CallbackTimeout     = "timeout"     // no answer within CallbackTimeout
	CallbackUnreachable = "unreachable" // no connection, or it broke
)

// CallbackResults lists every result, for metrics that start at zero.
var CallbackResults = []string{CallbackOK, CallbackDenied, CallbackFailed, CallbackBadAnswer, CallbackTimeout, CallbackUnreachable}

// lifetime turns the app's ttl in seconds into how long its answer holds:
// the default when the answer names none (absent, 0 or less), capped at the
// maximum. Every answer expires, so every callback grant on a socket does.
func (c *callbackClient) lifetime(ttl float64) time.Duration {
	if !(ttl > 0) {
		return c.defaultTTL
	}
	if ttl >= c.maxTTL.Seconds() {
		return c.maxTTL
	}
	// A ttl below a nanosecond still lasts one, rather than not at all.
	return max(time.Duration(ttl*float64(time.Second)), 1)
}
