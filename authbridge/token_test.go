package authbridge

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// t0 is the fixed "now" of the token tests.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testSecret is the HS256 key of the tests; 32 bytes, the minimum.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testKeyPairs holds one key pair per supported asymmetric algorithm.
type testKeyPairs struct {
	rsa    *rsa.PrivateKey
	rsaPEM []byte
	ec     *ecdsa.PrivateKey
	ecPEM  []byte
	ed     ed25519.PrivateKey
	edPEM  []byte
}

// testKeys generates the key pairs once: RSA generation is slow enough to
// notice when repeated per test.
var testKeys = sync.OnceValue(func() testKeyPairs {
	var k testKeyPairs
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	k.rsaPEM = publicPEM(&k.rsa.PublicKey)
	k.ecPEM = publicPEM(&k.ec.PublicKey)
	k.edPEM = publicPEM(k.ed.Public())
	return k
})

func publicPEM(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims returns valid claims for t0 with the given changes applied; a nil
// value deletes the claim.
func claims(changes map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":    "user:7",
		"aud":    "pushpoll",
		"exp":    t0.Add(time.Hour).Unix(),
		"topics": []any{"acct:*", "project:42"},
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign mints a token as an app would.
func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// signWithHeader mints a token with extra header fields.
func signWithHeader(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	maps.Copy(tok.Header, header)
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func mustNew(t *testing.T, cfg Config) Authorizer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// deniedAll builds the Denied map of a whole-token failure.
func deniedAll(reason string, topics ...string) map[string]string {
	m := make(map[string]string, len(topics))
	for _, t := range topics {
		m[t] = reason
	}
	return m
}

func TestTokenMode(t *testing.T) {
	k := testKeys()
	hs := mustNew(t, Config{TokenSecret: testSecret})
	rs := mustNew(t, Config{TokenPublicKey: k.rsaPEM})
	es := mustNew(t, Config{TokenPublicKey: k.ecPEM})
	ed := mustNew(t, Config{TokenPublicKey: k.edPEM})
	small := mustNew(t, Config{TokenSecret: testSecret, MaxTokenBytes: 64})

	valid := sign(t, jwt.SigningMethodHS256, testSecret, claims(nil))
	parts := strings.Split(valid, ".")
	// Flipping the signature's first character keeps it valid base64url.
	sig := []byte(parts[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)
	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"user:7","aud":"pushpoll","exp":1999999999,"topics":["*","admin"]}`))
	tamperedPayload := parts[0] + "." + otherPayload + "." + parts[2]
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	manyTopics := make([]any, 0, 1000)
	for range 1000 {
		manyTopics = append(manyTopics, "project:1234567890")
	}
	oversize := sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": manyTopics}))

	expires := t0.Add(time.Hour + defaultLeeway)
	two := []string{"project:42", "acct:1"}

	tests := []struct {
		name        string
		auth        Authorizer
		token       string
		topics      []string
		wantGranted []string
		wantDenied  map[string]string
		wantExpires time.Time
	}{
		{
			name:        "valid HS256",
			auth:        hs,
			token:       valid,
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:        "valid RS256",
			auth:        rs,
			token:       sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)),
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:        "valid ES256",
			auth:        es,
			token:       sign(t, jwt.SigningMethodES256, k.ec, claims(nil)),
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:        "valid EdDSA",
			auth:        ed,
			token:       sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil)),
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:        "aud as array containing the audience",
			auth:        hs,
			token:       sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"aud": []any{"other", "pushpoll"}})),
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:       "expired",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"exp": t0.Add(-time.Minute).Unix()})),
			topics:     two,
			wantDenied: deniedAll("expired", two...),
		},
		{
			name:       "nbf in the future",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"nbf": t0.Add(time.Minute).Unix()})),
			topics:     two,
			wantDenied: deniedAll("not yet valid", two...),
		},
		{
			name:        "exp within leeway",
			auth:        hs,
			token:       sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"exp": t0.Add(-3 * time.Second).Unix()})),
			topics:      two,
			wantGranted: two,
			wantExpires: t0.Add(2 * time.Second),
		},
		{
			name:        "nbf within leeway",
			auth:        hs,
			token:       sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"nbf": t0.Add(3 * time.Second).Unix()})),
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:       "wrong aud",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"aud": "other"})),
			topics:     two,
			wantDenied: deniedAll("wrong audience", two...),
		},
		{
			name:       "missing exp",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"exp": nil})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "missing aud",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"aud": nil})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "missing sub",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"sub": nil})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "empty sub",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"sub": ""})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "missing topics",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": nil})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "claim names are case-sensitive",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": nil, "Topics": []any{"acct:*"}})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "missing claim reported before expired",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"sub": nil, "exp": t0.Add(-time.Hour).Unix()})),
			topics:     two,
			wantDenied: deniedAll("missing claim", two...),
		},
		{
			name:       "topics claim is a string",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": "acct:1"})),
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "topics claim holds numbers",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": []any{1, 2}})),
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "sub is a number",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"sub": 7})),
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "exp is a string",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"exp": "tomorrow"})),
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "alg none",
			auth:       hs,
			token:      noneToken,
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "alg none without signature against RS256",
			auth:       rs,
			token:      noneToken,
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "HS256 keyed with the RSA public key PEM when RS256 is configured",
			auth:       rs,
			token:      sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims(nil)),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "HS256 keyed with the Ed25519 public key PEM when EdDSA is configured",
			auth:       ed,
			token:      sign(t, jwt.SigningMethodHS256, k.edPEM, claims(nil)),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "RS256 token when HS256 is configured",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "RS512 token when RS256 is configured",
			auth:       rs,
			token:      sign(t, jwt.SigningMethodRS512, k.rsa, claims(nil)),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "ES256 token when EdDSA is configured",
			auth:       ed,
			token:      sign(t, jwt.SigningMethodES256, k.ec, claims(nil)),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "HS256 signed with another secret",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, []byte("another secret that is long enough!"), claims(nil)),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "tampered signature",
			auth:       hs,
			token:      tamperedSig,
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "tampered payload",
			auth:       hs,
			token:      tamperedPayload,
			topics:     []string{"admin"},
			wantDenied: deniedAll("bad signature", "admin"),
		},
		{
			name:       "crit header",
			auth:       hs,
			token:      signWithHeader(t, jwt.SigningMethodHS256, testSecret, claims(nil), map[string]any{"crit": []any{"exp"}}),
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "garbage: one segment",
			auth:       hs,
			token:      "not a token",
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "garbage: empty segments",
			auth:       hs,
			token:      "..",
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "garbage: four segments",
			auth:       rs,
			token:      valid + ".x",
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "garbage: bad base64",
			auth:       es,
			token:      "!!!.???.***",
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "garbage: header without alg",
			auth:       hs,
			token:      base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
			topics:     two,
			wantDenied: deniedAll("bad signature", two...),
		},
		{
			name:       "garbage: binary",
			auth:       ed,
			token:      "\x00\xff.\x01.\x02",
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "oversize token is refused even with a valid signature",
			auth:       hs,
			token:      oversize,
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:       "configured cap applies",
			auth:       small,
			token:      valid,
			topics:     two,
			wantDenied: deniedAll("malformed token", two...),
		},
		{
			name:        "prefix grant",
			auth:        hs,
			token:       sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": []any{"acct:*"}})),
			topics:      []string{"acct:1", "acct:1:2", "acct", "acct:", "acctx:2", "xacct:1"},
			wantGranted: []string{"acct:1", "acct:1:2"},
			wantDenied:  deniedAll("not in token", "acct", "acct:", "acctx:2", "xacct:1"),
			wantExpires: expires,
		},
		{
			name:        "exact grant",
			auth:        hs,
			token:       sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": []any{"project:42"}})),
			topics:      []string{"project:42", "project:4", "project:420", "Project:42"},
			wantGranted: []string{"project:42"},
			wantDenied:  deniedAll("not in token", "project:4", "project:420", "Project:42"),
			wantExpires: expires,
		},
		{
			name:        "mixed granted and denied",
			auth:        hs,
			token:       valid,
			topics:      []string{"project:9", "acct:7", "project:42", "user:7"},
			wantGranted: []string{"acct:7", "project:42"},
			wantDenied:  deniedAll("not in token", "project:9", "user:7"),
			wantExpires: expires,
		},
		{
			name:       "bare star grants nothing",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": []any{"*", ""}})),
			topics:     []string{"acct:1", "*", "x"},
			wantDenied: deniedAll("not in token", "acct:1", "*", "x"),
		},
		{
			name:       "empty topics claim grants nothing",
			auth:       hs,
			token:      sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": []any{}})),
			topics:     two,
			wantDenied: deniedAll("not in token", two...),
		},
		{
			name:        "repeated topic is granted once",
			auth:        hs,
			token:       valid,
			topics:      []string{"project:42", "project:42"},
			wantGranted: []string{"project:42"},
			wantExpires: expires,
		},
		{
			name:        "custom audience",
			auth:        mustNew(t, Config{TokenSecret: testSecret, Audience: "billing"}),
			token:       sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"aud": "billing"})),
			topics:      two,
			wantGranted: two,
			wantExpires: expires,
		},
		{
			name:       "default audience refused when another is configured",
			auth:       mustNew(t, Config{TokenSecret: testSecret, Audience: "billing"}),
			token:      valid,
			topics:     two,
			wantDenied: deniedAll("wrong audience", two...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.auth.Authorize(context.Background(), Request{Token: tt.token, Topics: tt.topics}, t0)
			wantGranted := tt.wantGranted
			if wantGranted == nil {
				wantGranted = []string{}
			}
			wantDenied := tt.wantDenied
			if wantDenied == nil {
				wantDenied = map[string]string{}
			}
			if !reflect.DeepEqual(d.Granted, wantGranted) {
				t.Errorf("Granted = %q, want %q", d.Granted, wantGranted)
			}
			if !reflect.DeepEqual(d.Denied, wantDenied) {
				t.Errorf("Denied = %q, want %q", d.Denied, wantDenied)
			}
			if !d.Expires.Equal(tt.wantExpires) {
				t.Errorf("Expires = %v, want %v", d.Expires, tt.wantExpires)
			}
		})
	}
}

func TestTokenOversizeCheckedBeforeParsing(t *testing.T) {
	v := newTokenVerifier(keySet{"HS256": {testSecret}}, Config{Audience: "pushpoll", Leeway: time.Second, MaxTokenBytes: 10})
	tests := []struct {
		name  string
		token string
		want  error
	}{
		// Eleven bytes of garbage would be "malformed" anyway; the point is
		// the detail, which shows the length check fired, not the parser.
		{name: "one byte over", token: "abcdefghijk", want: ErrMalformedToken},
		{name: "at the cap reaches the parser", token: "abcdefghij", want: ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := v.verify(tt.token, t0)
			if err == nil || reason(err) != tt.want.Error() {
				t.Fatalf("verify = %v, want %v", err, tt.want)
			}
			overCap := len(tt.token) > 10
			if got := strings.Contains(err.Error(), "limit 10"); got != overCap {
				t.Errorf("error %q: length check fired = %v, want %v", err, got, overCap)
			}
		})
	}
}

// A decision names its credential and which grants came by prefix only, so
// the node can bound the topics a prefix lets a client invent.
func TestDecisionNamesCredentialAndPrefixGrants(t *testing.T) {
	a := mustNew(t, Config{TokenSecret: testSecret})
	d := a.Authorize(context.Background(), Request{
		Token:  sign(t, jwt.SigningMethodHS256, testSecret, claims(nil)),
		Topics: []string{"project:42", "acct:1", "other"},
	}, t0)
	if !reflect.DeepEqual(d.ByPrefix, []string{"acct:1"}) || d.Credential != "sub:user:7" {
		t.Errorf("ByPrefix %q, Credential %q; want [acct:1], sub:user:7", d.ByPrefix, d.Credential)
	}
	if !reflect.DeepEqual(d.Key, keyID(testSecret)) {
		t.Errorf("Key %q, want the id of the test secret", d.Key)
	}
}

// TestCallbackCredential: a callback grant's credential names the user, so
// that junk cookies or a second copy of the session cookie do not make a
// fresh budget: the answer's sub, else the named session cookie when it is
// there once, else the Authorization header, else the client address.
func TestCallbackCredential(t *testing.T) {
	withSub := newFakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		sid, _ := r.Cookie("sid")
		if sid == nil {
			http.Error(w, "who?", http.StatusForbidden)
			return
		}
		answer(200, `{"topics":["a:*"],"ttl":60,"sub":"user-`+sid.Value+`"}`)(w, r)
	})
	noSub := newFakeApp(t, answer(200, `{"topics":["a:*"],"ttl":60}`))
	longSub := newFakeApp(t, answer(200, `{"topics":["a:*"],"sub":"`+strings.Repeat("x", maxSubBytes+1)+`"}`))
	bySub := callbackAuth(t, withSub.URL, Config{})
	byCookie := callbackAuth(t, noSub.URL, Config{CallbackSessionCookie: "sid"})
	plain := callbackAuth(t, noSub.URL, Config{})
	credential := func(a Authorizer, req Request) string {
		t.Helper()
		req.Topics = []string{"a:1"}
		d := a.Authorize(context.Background(), req, t0)
		if len(d.Granted) != 1 {
			t.Fatalf("%+v: not granted: %v", req, d.Denied)
		}
		return d.Credential
	}
	same := func(name string, a Authorizer, x, y Request, want bool) {
		t.Helper()
		cx, cy := credential(a, x), credential(a, y)
		if (cx == cy) != want {
			t.Errorf("%s: %q and %q, same = %v, want %v", name, cx, cy, cx == cy, want)
		}
		for _, c := range []string{cx, cy} {
			if strings.Contains(c, "alice") && !strings.HasPrefix(c, "sub:") {
				t.Errorf("%s: credential %q shows a cookie value", name, c)
			}
		}
	}
	alice := Request{Cookie: "sid=alice", Client: "198.51.100.1"}
	same("sub: junk cookies", bySub, alice, Request{Cookie: "sid=alice; junk=1", Client: "203.0.113.9"}, true)
	same("sub: another user", bySub, alice, Request{Cookie: "sid=bob"}, false)
	if got := credential(bySub, alice); got != "sub:user-alice" {
		t.Errorf("credential %q, want the answer's sub", got)
	}
	same("cookie: junk cookies", byCookie, alice, Request{Cookie: "junk=1; sid=alice; junk=2", Client: "203.0.113.9"}, true)
	same("cookie: another user", byCookie, alice, Request{Cookie: "sid=bob", Client: "198.51.100.1"}, false)
	same("cookie twice: the address", byCookie, Request{Cookie: "sid=x; sid=alice", Client: "198.51.100.1"}, Request{Cookie: "sid=y; sid=alice", Client: "198.51.100.1"}, true)
	same("authorization", plain, Request{Cookie: "a=1", Authorization: "Bearer alice"}, Request{Cookie: "a=2", Authorization: "Bearer alice"}, true)
	same("authorization: another", plain, Request{Authorization: "Bearer alice"}, Request{Authorization: "Bearer bob"}, false)
	same("nothing: the address", plain, Request{Cookie: "junk=1", Client: "198.51.100.1"}, Request{Cookie: "junk=2", Client: "198.51.100.1"}, true)
	same("nothing: another address", plain, Request{Cookie: "junk=1", Client: "198.51.100.1"}, Request{Cookie: "junk=1", Client: "198.51.100.2"}, false)
	d := callbackAuth(t, longSub.URL, Config{}).Authorize(context.Background(), Request{Topics: []string{"a:1"}, Cookie: "s=1"}, t0)
	if d.Denied["a:1"] != ErrAuthUnavailable.Error() {
		t.Errorf("a sub of %d bytes: %+v", maxSubBytes+1, d)
	}
}

// Rotation: several keys verify at once, SetKeys swaps them for the next
// subscribe, and a bad set leaves the keys in use alone.
func TestKeyRotation(t *testing.T) {
	k := testKeys()
	oldSecret, newSecret := testSecret, []byte("the-next-secret-0123456789abcdef-0123")
	a := mustNew(t, Config{TokenSecret: oldSecret})
	signedBy := func(method jwt.SigningMethod, key any) string { return sign(t, method, key, claims(nil)) }
	granted := func(tok string) bool {
		return len(a.Authorize(context.Background(), Request{Token: tok, Topics: []string{"project:42"}}, t0).Granted) == 1
	}
	steps := []struct {
		name      string
		keys      Keys
		err       bool
		old, next bool // whether tokens signed with each secret pass
	}{
		{name: "both during the change", keys: Keys{Secrets: [][]byte{newSecret, oldSecret}}, old: true, next: true},
		{name: "a short secret is refused", keys: Keys{Secrets: [][]byte{newSecret, []byte("short")}}, err: true, old: true, next: true},
		{name: "secrets and public keys at once are refused", keys: Keys{Secrets: [][]byte{newSecret}, PublicKeyPEM: k.edPEM}, err: true, old: true, next: true},
		{name: "the old one retired", keys: Keys{Secrets: [][]byte{newSecret}}, old: false, next: true},
	}
	for _, s := range steps {
		err := a.(KeySetter).SetKeys(s.keys)
		if (err != nil) != s.err {
			t.Fatalf("%s: SetKeys = %v", s.name, err)
		}
		if got := granted(signedBy(jwt.SigningMethodHS256, oldSecret)); got != s.old {
			t.Errorf("%s: old secret's token granted = %v, want %v", s.name, got, s.old)
		}
		if got := granted(signedBy(jwt.SigningMethodHS256, newSecret)); got != s.next {
			t.Errorf("%s: new secret's token granted = %v, want %v", s.name, got, s.next)
		}
	}

	// Public keys: one PEM file with two blocks of different types; each
	// verifies only its own algorithm.
	p := mustNew(t, Config{TokenPublicKey: append(append([]byte{}, k.rsaPEM...), k.edPEM...)})
	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"RS256 by the RSA key", sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), true},
		{"EdDSA by the Ed25519 key", sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil)), true},
		{"ES256 with no such key", sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), false},
		{"HS256 with the RSA PEM as secret", sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims(nil)), false},
	} {
		d := p.Authorize(context.Background(), Request{Token: tc.tok, Topics: []string{"project:42"}}, t0)
		if got := len(d.Granted) == 1; got != tc.ok {
			t.Errorf("%s: granted = %v, want %v (%v)", tc.name, got, tc.ok, d.Denied)
		}
	}
}

// TestDecisionNamesItsKey: a grant says which key verified it, in a form
// that is not the key, and Holds follows SetKeys, so a node can end the
// grants of a key a reload removed.
func TestDecisionNamesItsKey(t *testing.T) {
	k := testKeys()
	other := []byte("the-next-secret-0123456789abcdef-0123")
	a := mustNew(t, Config{TokenSecrets: [][]byte{testSecret, other}})
	key := func(a Authorizer, tok string) string {
		t.Helper()
		d := a.Authorize(context.Background(), Request{Token: tok, Topics: []string{"project:42"}}, t0)
		if len(d.Granted) != 1 {
			t.Fatalf("not granted: %v", d.Denied)
		}
		return d.Key
	}
	first, second := key(a, sign(t, jwt.SigningMethodHS256, testSecret, claims(nil))), key(a, sign(t, jwt.SigningMethodHS256, other, claims(nil)))
	if first == "" || second == "" || first == second {
		t.Fatalf("keys %q and %q: want two distinct ids", first, second)
	}
	if strings.Contains(first, string(testSecret)) || strings.Contains(first, hex.EncodeToString(testSecret)) {
		t.Fatalf("the key id %q shows the secret", first)
	}
	ks := a.(KeySetter)
	if !ks.Holds(first) || !ks.Holds(second) {
		t.Fatal("Holds is false for keys in use")
	}
	if err := ks.SetKeys(Keys{Secrets: [][]byte{other}}); err != nil {
		t.Fatal(err)
	}
	if ks.Holds(first) || !ks.Holds(second) {
		t.Fatalf("after removing the first key: Holds(first) = %v, Holds(second) = %v", ks.Holds(first), ks.Holds(second))
	}
	p := mustNew(t, Config{TokenPublicKey: append(append([]byte{}, k.rsaPEM...), k.edPEM...)})
	rsaKey, edKey := key(p, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil))), key(p, sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil)))
	if rsaKey == edKey || !p.(KeySetter).Holds(rsaKey) {
		t.Fatalf("public keys: %q, %q", rsaKey, edKey)
	}
	if err := p.(KeySetter).SetKeys(Keys{PublicKeyPEM: k.edPEM}); err != nil {
		t.Fatal(err)
	}
	if p.(KeySetter).Holds(rsaKey) || !p.(KeySetter).Holds(edKey) {
		t.Fatal("Holds does not follow the public keys")
	}
}

// TestMaxTokenTTL: a token whose exp lies further ahead than the cap is
// refused whole, with its own reason; up to the cap (and the leeway) it
// passes.
func TestMaxTokenTTL(t *testing.T) {
	a := mustNew(t, Config{TokenSecret: testSecret})
	capped := mustNew(t, Config{TokenSecret: testSecret, MaxTokenTTL: time.Hour})
	for _, c := range []struct {
		name string
		a    Authorizer
		exp  time.Time
		want string
	}{
		{"year 9999", a, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ErrLifetimeTooLong.Error()},
		{"a day and a minute", a, t0.Add(24*time.Hour + time.Minute), ErrLifetimeTooLong.Error()},
		{"a day", a, t0.Add(24 * time.Hour), ""},
		{"a day plus the leeway", a, t0.Add(24*time.Hour + defaultLeeway), ""},
		{"two hours under a one-hour cap", capped, t0.Add(2 * time.Hour), ErrLifetimeTooLong.Error()},
		{"an hour under a one-hour cap", capped, t0.Add(time.Hour), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := c.a.Authorize(context.Background(), Request{Token: sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"exp": c.exp.Unix()})), Topics: []string{"project:42", "acct:1"}}, t0)
			if c.want == "" {
				if len(d.Granted) != 2 {
					t.Fatalf("denied: %v", d.Denied)
				}
				return
			}
			if len(d.Granted) != 0 || !maps.Equal(d.Denied, deniedAll(c.want, "project:42", "acct:1")) {
				t.Fatalf("decision %+v, want every topic denied %q", d, c.want)
			}
		})
	}
}
