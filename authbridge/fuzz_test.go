package authbridge

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// knownReasons are the only texts a client may ever see.
var knownReasons = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range reasons {
		m[r.Error()] = true
	}
	return m
}()

// checkShape asserts the Decision contract: every requested topic is either
// granted or denied with a known reason, never both.
func checkShape(t *testing.T, topics []string, d Decision) {
	t.Helper()
	for _, topic := range topics {
		r, denied := d.Denied[topic]
		granted := slices.Contains(d.Granted, topic)
		if granted == denied {
			t.Fatalf("topic %q: granted %v, denied %v; want exactly one", topic, granted, denied)
		}
		if denied && !knownReasons[r] {
			t.Fatalf("topic %q denied with unknown reason %q", topic, r)
		}
	}
	if len(d.Granted) == 0 && !d.Expires.IsZero() {
		t.Fatalf("Expires %v set with nothing granted", d.Expires)
	}
}

// FuzzVerify feeds arbitrary tokens to a verifier whose secret is random per
// run, so no input can carry a valid signature: nothing may ever be granted.
func FuzzVerify(f *testing.F) {
	k := testKeys()
	seeds := []string{
		"",
		"x",
		"..",
		"a.b.c",
		// Valid tokens, but signed with keys the verifier does not hold.
		signFuzz(f, jwt.SigningMethodHS256, testSecret),
		signFuzz(f, jwt.SigningMethodHS256, k.rsaPEM),
		signFuzz(f, jwt.SigningMethodRS256, k.rsa),
		signFuzz(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"a","aud":"pushpoll","exp":9999999999,"topics":["*"]}`)) + ".",
		strings.Repeat("A", defaultMaxTokenBytes+1),
	}
	for _, s := range seeds {
		for _, topic := range []string{"acct:1", "*", ""} {
			f.Add(s, topic)
		}
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		f.Fatal(err)
	}
	a, err := New(Config{TokenSecret: secret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token, topic string) {
		topics := []string{topic, "acct:1"}
		d := a.Authorize(context.Background(), Request{Token: token, Topics: topics}, t0)
		checkShape(t, topics, d)
		if len(d.Granted) > 0 {
			t.Fatalf("granted %q for a token not signed with the key", d.Granted)
		}
	})
}

// FuzzVerifySignedClaims signs arbitrary claims properly and checks the
// grants against an independent reading of the claims: a topic is granted
// only if the claims are valid at t0 and one of their patterns covers it.
func FuzzVerifySignedClaims(f *testing.F) {
	seeds := []string{
		`{"sub":"u","aud":"pushpoll","exp":1893553445,"topics":["acct:*","project:42"]}`,
		`{"sub":"u","aud":["x","pushpoll"],"exp":1893553445,"nbf":1,"topics":["*"]}`,
		`{"sub":"u","aud":"pushpoll","exp":1893553445,"Topics":["acct:*"],"topics":["a"]}`,
		`{"sub":"u","aud":"pushpoll","exp":1893553445,"topics":"acct:1"}`,
		`{"sub":"u","aud":"pushpoll","exp":1e300,"topics":["acct:"]}`,
		`{"sub":"u","aud":"pushpoll","exp":-1e300,"topics":["acct:*"]}`,
		`{"sub":"u","aud":"pushpoll","exp":1,"topics":["acct:*"]}`,
		`{"sub":1,"aud":"pushpoll","exp":1893553445,"topics":["acct:*"]}`,
		`{"sub":"u","aud":7,"exp":1893553445,"topics":["acct:*"]}`,
		`{"sub":"u","aud":"pushpoll","exp":"1893553445","topics":["acct:*"]}`,
		`{"sub":"u","aud":"pushpoll","exp":1893553445,"topics":[null,"acct:*"]}`,
		`{"sub":"u","aud":"pushpoll","exp":1893553445,"topics":["acct:*"],"topics":null}`,
		`null`,
		`[]`,
		`{}`,
		`{"topics":`,
	}
	for _, s := range seeds {
		for _, topic := range []string{"acct:1", "acct:", "acct", "project:42", "*", ""} {
			f.Add(s, topic)
		}
	}
	a, err := New(Config{TokenSecret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, claimsJSON, topic string) {
		token := signRaw(`{"alg":"HS256","typ":"JWT"}`, claimsJSON)
		topics := []string{topic}
		d := a.Authorize(context.Background(), Request{Token: token, Topics: topics}, t0)
		checkShape(t, topics, d)
		for _, g := range d.Granted {
			if why := oracleRefuses(claimsJSON, g); why != "" {
				t.Fatalf("granted %q, but the claims %s", g, why)
			}
		}
	})
}

// oracleRefuses reads claims without the package's code and says why topic
// must not be granted, or "" if it may be. Time checks are a second looser
// than the real ones so float rounding cannot cause false alarms.
func oracleRefuses(claimsJSON, topic string) string {
	var c map[string]any
	if err := json.Unmarshal([]byte(claimsJSON), &c); err != nil {
		return "are not a JSON object"
	}
	if s, ok := c["sub"].(string); !ok || s == "" {
		return "have no sub"
	}
	audOK := false
	switch aud := c["aud"].(type) {
	case string:
		audOK = aud == defaultAudience
	case []any:
		audOK = slices.Contains(aud, any(defaultAudience))
	}
	if !audOK {
		return "lack the audience"
	}
	now := float64(t0.Unix())
	leeway := defaultLeeway.Seconds()
	exp, ok := c["exp"].(float64)
	if !ok || exp+leeway+1 < now {
		return "are expired or have no exp"
	}
	if v, present := c["nbf"]; present {
		nbf, ok := v.(float64)
		if !ok || nbf-leeway-1 > now {
			return "are not yet valid"
		}
	}
	list, ok := c["topics"].([]any)
	if !ok {
		return "have no topics array"
	}
	for _, p := range list {
		ps, ok := p.(string)
		if !ok {
			return "hold a non-string topic"
		}
		if ps == topic && ps != "" && ps != "*" {
			return ""
		}
		stem, isPrefix := strings.CutSuffix(ps, "*")
		if isPrefix && stem != "" && strings.HasPrefix(topic, stem) && topic != stem {
			return ""
		}
	}
	return "have no pattern covering it"
}

// signRaw builds an HS256 token over exact header and claims bytes, which
// jwt's own signer cannot do for claims that are not valid JSON.
func signRaw(header, claimsJSON string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claimsJSON))
	m := hmac.New(sha256.New, testSecret)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

func signFuzz(f *testing.F, method jwt.SigningMethod, key any) string {
	s, err := jwt.NewWithClaims(method, claims(nil)).SignedString(key)
	if err != nil {
		f.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// FuzzCookieValue: the session cookie a callback credential is keyed on is
// found only when the header holds it exactly once, and is then one of the
// header's own name=value pairs.
func FuzzCookieValue(f *testing.F) {
	f.Add("sid=alice; junk=1", "sid")
	f.Add("sid=a; sid=b", "sid")
	f.Add(" sid = x ;sid=", "sid")
	f.Add(";;=;", "")
	f.Fuzz(func(t *testing.T, header, name string) {
		v, ok := cookieValue(header, name)
		if !ok {
			return
		}
		if !strings.Contains(header, name+"="+v) {
			t.Fatalf("cookieValue(%q, %q) = %q, which the header does not hold", header, name, v)
		}
		if _, again := cookieValue(header+"; "+name+"=other", name); again {
			t.Fatalf("a second %s cookie still names a credential", name)
		}
	})
}
