package authbridge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewErrorsNameTheFlag(t *testing.T) {
	k := testKeys()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})

	tests := []struct {
		name  string
		cfg   Config
		flags []string
	}{
		{name: "nothing configured", cfg: Config{}, flags: []string{"--token-secret", "--token-public-key", "--auth-callback-url"}},
		{name: "secret and public key", cfg: Config{TokenSecret: testSecret, TokenPublicKey: k.rsaPEM}, flags: []string{"--token-secret", "--token-public-key"}},
		{name: "short secret", cfg: Config{TokenSecret: []byte("secret")}, flags: []string{"--token-secret"}},
		{name: "public key not PEM", cfg: Config{TokenPublicKey: []byte("ssh-ed25519 AAAA")}, flags: []string{"--token-public-key"}},
		{name: "public key is a private key", cfg: Config{TokenPublicKey: privPEM}, flags: []string{"--token-public-key"}},
		{name: "public key on P-384", cfg: Config{TokenPublicKey: publicPEM(&p384.PublicKey)}, flags: []string{"--token-public-key"}},
		{name: "RSA key under 2048 bits", cfg: Config{TokenPublicKey: publicPEM(&weakRSA.PublicKey)}, flags: []string{"--token-public-key"}},
		{name: "public key PEM with bad body", cfg: Config{TokenPublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")})}, flags: []string{"--token-public-key"}},
		{name: "callback URL relative", cfg: Config{CallbackURL: "/pushpoll/authorize"}, flags: []string{"--auth-callback-url"}},
		{name: "callback URL other scheme", cfg: Config{CallbackURL: "ftp://app/authorize"}, flags: []string{"--auth-callback-url"}},
		{name: "callback URL unparsable", cfg: Config{CallbackURL: "http://a b/%zz"}, flags: []string{"--auth-callback-url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", a)
			}
			for _, f := range tt.flags {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
}

func TestNewCallbackErrorHidesURL(t *testing.T) {
	_, err := New(Config{CallbackURL: "ftp://user:hunter2@app/authorize"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New error = %v, want one that does not echo the URL", err)
	}
}

func TestNewAcceptsPublicKeyForms(t *testing.T) {
	k := testKeys()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.ec.PublicKey, k.ec)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})

	tests := []struct {
		name string
		pem  []byte
		alg  string
	}{
		{name: "PKIX RSA", pem: k.rsaPEM, alg: "RS256"},
		{name: "PKCS1 RSA", pem: pkcs1, alg: "RS256"},
		{name: "PKIX ECDSA", pem: k.ecPEM, alg: "ES256"},
		{name: "certificate ECDSA", pem: cert, alg: "ES256"},
		{name: "PKIX Ed25519", pem: k.edPEM, alg: "EdDSA"},
		{name: "text before the PEM", pem: append([]byte("# app signing key\n"), k.edPEM...), alg: "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{TokenPublicKey: tt.pem})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := (*a.(*bridge).token.keys.Load()).algs(); len(got) != 1 || got[0] != tt.alg {
				t.Errorf("algorithms = %v, want %s", got, tt.alg)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	a := mustNew(t, Config{TokenSecret: testSecret, CallbackURL: "http://app.example/pushpoll/authorize"})
	b := a.(*bridge)
	got := []any{b.token.audience, b.token.leeway, b.token.maxBytes, b.callback.timeout, b.callback.cache.max}
	want := []any{"pushpoll", 5 * time.Second, 8192, 2 * time.Second, 10000}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults = %v, want %v", got, want)
	}
	tr, ok := b.callback.client.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want *http.Transport", b.callback.client.Transport)
	}
	if tr.MaxIdleConnsPerHost != 64 || tr.IdleConnTimeout != 90*time.Second {
		t.Errorf("pool: MaxIdleConnsPerHost %d, IdleConnTimeout %v; want 64, 90s", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout)
	}
	if b.callback.client.CheckRedirect == nil {
		t.Error("redirects are followed; credentials could leave the callback host")
	}
}

func TestNewCopiesSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	a := mustNew(t, Config{TokenSecret: secret})
	for i := range secret {
		secret[i] = 'x'
	}
	tok := sign(t, jwt.SigningMethodHS256, testSecret, claims(nil))
	d := a.Authorize(context.Background(), Request{Token: tok, Topics: []string{"project:42"}}, t0)
	if len(d.Granted) != 1 {
		t.Fatalf("Decision = %+v, want the token still verified by the original secret", d)
	}
}

func TestModeSelection(t *testing.T) {
	app := newFakeApp(t, answer(200, `{"topics":["cb:*"],"ttl":60}`))
	tok := sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"topics": []any{"tok:*"}}))

	tests := []struct {
		name        string
		cfg         Config
		req         Request
		wantGranted []string
		wantDenied  map[string]string
		wantCalls   int64
	}{
		{
			name:        "token present uses token mode even with a callback",
			cfg:         Config{TokenSecret: testSecret, CallbackURL: app.URL},
			req:         Request{Token: tok, Topics: []string{"tok:1", "cb:1"}, Cookie: "s=1"},
			wantGranted: []string{"tok:1"},
			wantDenied:  map[string]string{"cb:1": "not in token"},
		},
		{
			name:        "no token falls back to the callback",
			cfg:         Config{TokenSecret: testSecret, CallbackURL: app.URL},
			req:         Request{Topics: []string{"tok:1", "cb:1"}, Cookie: "s=2"},
			wantGranted: []string{"cb:1"},
			wantDenied:  map[string]string{"tok:1": "not authorized"},
			wantCalls:   1,
		},
		{
			name:        "token without a token key goes to the callback",
			cfg:         Config{CallbackURL: app.URL},
			req:         Request{Token: tok, Topics: []string{"cb:1"}, Cookie: "s=3"},
			wantGranted: []string{"cb:1"},
			wantDenied:  map[string]string{},
			wantCalls:   1,
		},
		{
			name:       "no token and no callback",
			cfg:        Config{TokenSecret: testSecret},
			req:        Request{Topics: []string{"tok:1", "cb:1"}, Cookie: "s=4"},
			wantDenied: map[string]string{"tok:1": "no token", "cb:1": "no token"},
		},
		{
			name:       "no topics asks nobody",
			cfg:        Config{CallbackURL: app.URL},
			req:        Request{Cookie: "s=5"},
			wantDenied: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := app.calls.Load()
			d := mustNew(t, tt.cfg).Authorize(context.Background(), tt.req, t0)
			want := tt.wantGranted
			if want == nil {
				want = []string{}
			}
			if !reflect.DeepEqual(d.Granted, want) || !reflect.DeepEqual(d.Denied, tt.wantDenied) {
				t.Errorf("Decision = %+v, want granted %q denied %q", d, want, tt.wantDenied)
			}
			if got := app.calls.Load() - before; got != tt.wantCalls {
				t.Errorf("app calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestAuthorizeNilContext(t *testing.T) {
	a := mustNew(t, Config{TokenSecret: testSecret})
	var ctx context.Context
	d := a.Authorize(ctx, Request{Topics: []string{"x"}}, t0)
	if d.Denied["x"] != "no token" {
		t.Fatalf("Decision = %+v", d)
	}
}
