package authbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Request is what one subscribe asks for.
type Request struct {
	Token         string   // JWT from the subscribe event; may be empty
	Topics        []string // already validated topic names
	Cookie        string   // the socket handshake's Cookie header (callback mode)
	Authorization string   // the socket handshake's Authorization header (callback mode)
	// Client is the client's address (callback mode): what names a callback
	// credential for the node's bounds when nothing better does.
	Client string
}

// Decision puts every requested topic either in Granted or in Denied, where
// Denied maps a topic to a short stable reason for the client. Granted and
// Denied are never nil.
type Decision struct {
	Granted []string
	Denied  map[string]string
	// Expires is when the grant lapses: the token's exp plus the configured
	// leeway, or the end of the callback answer's lifetime (its ttl, or the
	// default when it names none, capped). It is zero only when nothing was
	// granted.
	Expires time.Time
	// ByPrefix lists the granted topics that only a prefix pattern covers:
	// the ones a client can invent, so the node bounds them per Credential.
	ByPrefix []string
	// Credential names who was granted, the same across subscribes and
	// sockets: "sub:" and the token's subject or the sub of the callback
	// answer; for a callback answer without one, a hash of the session
	// cookie (Config.CallbackSessionCookie) or of the Authorization header
	// ("cookie:", "authorization:"), else "client:" and the client address.
	// Never the raw Cookie header, which a client can vary at will. It is
	// never a secret. Empty when nothing was
	// granted.
	Credential string
	// Key names the token key that verified the grant (never the key
	// itself), so that a grant can end when its key is removed
	// (KeySetter.Holds). Empty for callback grants.
	Key string
}

// Authorizer decides what a subscriber may receive. Implementations are safe
// for concurrent use.
type Authorizer interface {
	// Authorize never fails: problems become denial reasons. now is the
	// current time; expiry checks and the callback cache use it rather than
	// reading the clock, so callers and tests control time.
	Authorize(ctx context.Context, req Request, now time.Time) Decision
}

// Config selects how subscribers are authorized. A zero field takes the
// default noted beside it.
type Config struct {
	TokenSecret           []byte        // HS256 secret, at least 32 bytes
	TokenSecrets          [][]byte      // more HS256 secrets, all accepted (key rotation)
	TokenPublicKey        []byte        // PEM, one or more blocks: RSA -> RS256, ECDSA P-256 -> ES256, Ed25519 -> EdDSA
	Audience              string        // required aud; default "pushpoll"
	Leeway                time.Duration // clock leeway for exp and nbf; default 5s
	MaxTokenBytes         int           // tokens longer than this are refused before any crypto; default 8192
	MaxTokenTTL           time.Duration // a token whose exp lies further ahead is refused ("lifetime too long"); default 24h
	CallbackURL           string        // callback mode endpoint; empty = off
	CallbackTimeout       time.Duration // whole callback round trip; default 2s
	CallbackCacheEntries  int           // credentials remembered; default 10000
	CallbackDefaultTTL    time.Duration // lifetime of an answer without ttl; default 5m, at most CallbackMaxTTL
	CallbackMaxTTL        time.Duration // cap on any answer's lifetime; default 1h
	CallbackSessionCookie string        // the cookie that names the user when an answer has no sub; empty: none
	HTTPClient            *http.Client  // optional, used as given; default: a pooled keep-alive client that never follows redirects
	// OnCallback, if set, is told the result (Callback* constants) and
	// duration of every request to CallbackURL.
	OnCallback func(result string, took time.Duration)
}

const (
	defaultAudience = "pushpoll"
	// defaultLeeway absorbs small clock differences between the app that
	// mints tokens and this node without noticeably stretching a token's life.
	defaultLeeway = 5 * time.Second
	// defaultMaxTokenBytes is far above any sensible token (a few hundred
	// topics) yet keeps an attacker from making us decode and hash megabytes.
	defaultMaxTokenBytes = 8192
	// defaultMaxTokenTTL: tokens only authorize subscribes and the shim
	// fetches a new one on every reconnect, so a day is far above any
	// sensible lifetime while still ending a leaked token's use.
	defaultMaxTokenTTL = 24 * time.Hour
	// defaultCallbackTimeout bounds how long a subscribe waits on the app; a
	// client that is denied with "auth unavailable" polls meanwhile, so a
	// short wait is better than a hanging subscribe.
	defaultCallbackTimeout = 2 * time.Second
	// defaultCallbackTTL is the lifetime of a callback answer that names
	// none: as long as a typical token, so revoking access in the app
	// reaches open sockets in minutes rather than never.
	defaultCallbackTTL = 5 * time.Minute
	// defaultCallbackMaxTTL caps how long any answer is trusted, so a
	// credential the app has since revoked stops working within the hour
	// even if the app asked for a day.
	defaultCallbackMaxTTL = time.Hour
	// defaultCallbackCacheEntries covers the credentials of a busy node's
	// sockets at a few hundred bytes each.
	defaultCallbackCacheEntries = 10000
	// minSecretBytes follows RFC 7518: an HS256 key must be at least as long
	// as the hash output, or it can be brute-forced offline from one token.
	minSecretBytes = 32
)

// The errors whose texts are the denial reasons a client sees.
var (
	ErrNoToken         = errors.New("no token")
	ErrMalformedToken  = errors.New("malformed token")
	ErrBadSignature    = errors.New("bad signature")
	ErrExpired         = errors.New("expired")
	ErrNotYetValid     = errors.New("not yet valid")
	ErrWrongAudience   = errors.New("wrong audience")
	ErrMissingClaim    = errors.New("missing claim")
	ErrNotInToken      = errors.New("not in token")
	ErrNotAuthorized   = errors.New("not authorized")
	ErrAuthUnavailable = errors.New("auth unavailable")
	ErrLifetimeTooLong = errors.New("lifetime too long")
)

// reasons lists the sentinels so that a wrapped error can be turned back into
// the stable text the client sees.
var reasons = []error{
	ErrNoToken, ErrMalformedToken, ErrBadSignature, ErrExpired, ErrNotYetValid,
	ErrWrongAudience, ErrMissingClaim, ErrNotInToken, ErrNotAuthorized, ErrAuthUnavailable,
	ErrLifetimeTooLong,
}

// reason returns the client-facing text for err, which wraps one of the
// sentinels; anything unexpected is reported as the service being unavailable
// rather than leaking detail.
func reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return ErrAuthUnavailable.Error()
}

// bridge picks token or callback mode per request.
type bridge struct {
	token    *tokenVerifier  // nil when no token key is configured
	callback *callbackClient // nil when callback mode is off
}

var _ Authorizer = (*bridge)(nil)

// New checks cfg and builds an Authorizer. At least one of a token secret, a
// token public key or a callback URL is required; errors name the flag to fix.
func New(cfg Config) (Authorizer, error) {
	if (len(cfg.TokenSecret) > 0 || len(cfg.TokenSecrets) > 0) && len(cfg.TokenPublicKey) > 0 {
		// One accepted algorithm is the point of pinning; two keys would
		// reopen the question of which one a token is checked against.
		return nil, errors.New("authbridge: set only one of --token-secret and --token-public-key")
	}
	if len(cfg.TokenSecret) == 0 && len(cfg.TokenSecrets) == 0 && len(cfg.TokenPublicKey) == 0 && cfg.CallbackURL == "" {
		return nil, errors.New("authbridge: no way to authorize subscribers: set --token-secret, --token-public-key or --auth-callback-url")
	}
	if cfg.Audience == "" {
		cfg.Audience = defaultAudience
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = defaultLeeway
	}
	if cfg.MaxTokenBytes <= 0 {
		cfg.MaxTokenBytes = defaultMaxTokenBytes
	}
	if cfg.MaxTokenTTL <= 0 {
		cfg.MaxTokenTTL = defaultMaxTokenTTL
	}
	if cfg.CallbackTimeout <= 0 {
		cfg.CallbackTimeout = defaultCallbackTimeout
	}
	if cfg.CallbackCacheEntries <= 0 {
		cfg.CallbackCacheEntries = defaultCallbackCacheEntries
	}
	if cfg.CallbackMaxTTL <= 0 {
		cfg.CallbackMaxTTL = defaultCallbackMaxTTL
	}
	if cfg.CallbackDefaultTTL <= 0 {
		cfg.CallbackDefaultTTL = min(defaultCallbackTTL, cfg.CallbackMaxTTL)
	}
	if cfg.CallbackDefaultTTL > cfg.CallbackMaxTTL {
		return nil, errors.New("authbridge: --auth-callback-ttl must not exceed --auth-callback-max-ttl")
	}

	b := &bridge{}
	keys := Keys{Secrets: cfg.TokenSecrets, PublicKeyPEM: cfg.TokenPublicKey}
	if len(cfg.TokenSecret) > 0 {
		keys.Secrets = append([][]byte{cfg.TokenSecret}, keys.Secrets...)
	}
	if len(keys.Secrets) > 0 || len(keys.PublicKeyPEM) > 0 {
		ks, err := keys.compile()
		if err != nil {
			return nil, err
		}
		b.token = newTokenVerifier(ks, cfg)
	}
	if cfg.CallbackURL != "" {
		// The URL may carry credentials, so the error does not repeat it.
		u, err := url.Parse(cfg.CallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("authbridge: --auth-callback-url must be an absolute http or https URL")
		}
		b.callback = newCallbackClient(cfg)
	}
	return b, nil
}

// Keys are the keys tokens are verified with: HS256 secrets, or public
// keys in PEM (one block each). A token passes if any key of its algorithm
// verifies it, which is what lets keys rotate: add the new key everywhere,
// switch the app to it, and drop the old one once its tokens expired.
type Keys struct {
	Secrets      [][]byte
	PublicKeyPEM []byte
}

// KeySetter is implemented by an Authorizer from New that verifies tokens:
// SetKeys replaces its keys at once for every later subscribe. Holds says
// whether a grant's Decision.Key is still among them: the caller ends the
// grants whose key is gone.
type KeySetter interface {
	SetKeys(Keys) error
	Holds(key string) bool
}

// SetKeys implements KeySetter. On error the keys in use stay.
func (b *bridge) SetKeys(k Keys) error {
	if b.token == nil {
		return errors.New("authbridge: no token keys configured to replace (callback mode only)")
	}
	ks, err := k.compile()
	if err != nil {
		return err
	}
	b.token.keys.Store(&ks)
	return nil
}

// Holds implements KeySetter.
func (b *bridge) Holds(key string) bool {
	return b.token != nil && b.token.keys.Load().holds(key)
}

// compile checks the keys and sorts them by algorithm.
func (k Keys) compile() (keySet, error) {
	switch {
	case len(k.Secrets) > 0 && len(k.PublicKeyPEM) > 0:
		return nil, errors.New("authbridge: set only one of --token-secret and --token-public-key")
	case len(k.Secrets) > 0:
		ks := keySet{}
		for i, secret := range k.Secrets {
			if len(secret) < minSecretBytes {
				return nil, fmt.Errorf("authbridge: --token-secret must be at least %d bytes (secret %d of %d is %d)", minSecretBytes, i+1, len(k.Secrets), len(secret))
			}
			// Copied, so a caller reusing its buffer cannot change the key.
			ks.add(jwt.SigningMethodHS256, append([]byte(nil), secret...))
		}
		return ks, nil
	case len(k.PublicKeyPEM) > 0:
		ks, err := parsePublicKeys(k.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("authbridge: --token-public-key: %w", err)
		}
		return ks, nil
	}
	return nil, errors.New("authbridge: no token keys given")
}

// Authorize implements Authorizer.
func (b *bridge) Authorize(ctx context.Context, req Request, now time.Time) Decision {
	if len(req.Topics) == 0 {
		return Decision{Granted: []string{}, Denied: map[string]string{}}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	switch {
	case req.Token != "" && b.token != nil:
		return b.token.authorize(req.Token, req.Topics, now)
	case b.callback != nil:
		// A token we have no key for is ignored rather than refused: the
		// client shim may send one out of habit, and the app's callback is
		// the authority this node was configured with.
		return b.callback.authorize(ctx, req, now)
	default:
		return denyAll(req.Topics, ErrNoToken)
	}
}
