package authbridge

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims is what an app-minted token carries. It is a map rather than
// a struct because encoding/json matches struct fields case-insensitively,
// and claim names are case-sensitive: {"Topics":[...]} is not a topics claim.
type tokenClaims map[string]any

var (
	_ jwt.Claims          = (*tokenClaims)(nil)
	_ jwt.ClaimsValidator = (*tokenClaims)(nil)
)

// The getters delegate to jwt.MapClaims, which reads the registered claims
// by their exact names and refuses wrong types.

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.MapClaims(*c).GetExpirationTime()
}

func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) {
	return jwt.MapClaims(*c).GetNotBefore()
}

func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.MapClaims(*c).GetIssuedAt()
}

func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.MapClaims(*c).GetAudience()
}

func (c *tokenClaims) GetIssuer() (string, error) {
	return jwt.MapClaims(*c).GetIssuer()
}

func (c *tokenClaims) GetSubject() (string, error) {
	return jwt.MapClaims(*c).GetSubject()
}

// Validate adds the claims jwt's validator does not require on its own. The
// parser calls it only after the signature checks out, so a wrong claim type
// is never reported for a token we did not verify.
func (c *tokenClaims) Validate() error {
	sub, err := c.GetSubject()
	if err != nil {
		return fmt.Errorf("%w: sub: %w", jwt.ErrTokenMalformed, err)
	}
	if sub == "" {
		return fmt.Errorf("%w: sub", jwt.ErrTokenRequiredClaimMissing)
	}
	_, err = c.topics()
	return err
}

// topics returns the topics claim. An absent or null claim is missing; an
// empty array is a valid token that grants nothing; anything but an array of
// strings is malformed.
func (c *tokenClaims) topics() ([]string, error) {
	v, ok := (*c)["topics"]
	if !ok || v == nil {
		return nil, fmt.Errorf("%w: topics", jwt.ErrTokenRequiredClaimMissing)
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: topics is not an array", jwt.ErrTokenMalformed)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: topics holds a non-string", jwt.ErrTokenMalformed)
		}
		out = append(out, s)
	}
	return out, nil
}

// tokenVerifier checks tokens against its keys, each pinned to one
// algorithm. The keys are swapped whole (SetKeys) while subscribes run.
type tokenVerifier struct {
	keys     atomic.Pointer[keySet]
	audience string
	leeway   time.Duration
	maxBytes int
	// maxTTL bounds how far ahead a token's exp may lie; see authorize.
	maxTTL time.Duration
}

func newTokenVerifier(ks keySet, cfg Config) *tokenVerifier {
	v := &tokenVerifier{
		audience: cfg.Audience,
		leeway:   cfg.Leeway,
		maxBytes: cfg.MaxTokenBytes,
		maxTTL:   cfg.MaxTokenTTL,
	}
	v.keys.Store(&ks)
	return v
}

// authorize verifies raw and matches topics against its topics claim.
func (v *tokenVerifier) authorize(raw string, topics []string, now time.Time) Decision {
	c, key, err := v.verify(raw, now)
	if err != nil {
		return denyAll(topics, err)
	}
	// Both were checked by verify, so neither can fail here; exp is non-nil
	// because WithExpirationRequired made it mandatory.
	patterns, err := c.topics()
	if err != nil {
		return denyAll(topics, tokenReason(err))
	}
	expTime, err := c.GetExpirationTime()
	if err != nil || expTime == nil {
		return denyAll(topics, ErrMissingClaim)
	}
	exp := expTime.Time
	// A token whose exp lies further ahead than maxTTL is refused, not
	// capped: capping would grant the same token again after each cap, so
	// a leaked token minted for the year 9999 would still work for ever;
	// refusing makes the app that mints it find out on its first subscribe.
	if exp.Sub(now) > v.maxTTL+v.leeway {
		return denyAll(topics, ErrLifetimeTooLong)
	}
	// The grant lasts as long as the verifier would still accept the token.
	// time.Time.Add wraps instead of saturating, so an absurd exp near the
	// end of time must not turn into an expiry in the past.
	expires := exp.Add(v.leeway)
	if expires.Before(exp) {
		expires = exp
	}
	d := decide(topics, compileGrants(patterns), ErrNotInToken, expires)
	if len(d.Granted) > 0 {
		sub, _ := c.GetSubject() // checked by Validate
		d.Credential = "sub:" + sub
		d.Key = key
	}
	return d
}

// verify checks raw and returns its claims and the id of the key that
// verified it, or an error wrapping one of the reason sentinels (with jwt's
// error as detail).
func (v *tokenVerifier) verify(raw string, now time.Time) (*tokenClaims, string, error) {
	// The cap comes before any decoding or crypto, so an oversized token
	// costs a length check and nothing more.
	if len(raw) > v.maxBytes {
		return nil, "", fmt.Errorf("%w: token is %d bytes, limit %d", ErrMalformedToken, len(raw), v.maxBytes)
	}
	ks := *v.keys.Load() // one set for the whole check, even across a SetKeys
	parser := jwt.NewParser(
		// Only the configured keys' algorithms: this refuses "none" and the
		// HS256-with-the-public-key confusion before a key is touched.
		jwt.WithValidMethods(ks.algs()),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	c := &tokenClaims{}
	t, err := parser.ParseWithClaims(raw, c, ks.keyFunc)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", tokenReason(err), err)
	}
	return c, ks.signer(t, raw), nil
}

// signer is the id of the key in ks that verified t (raw): the only one of
// its algorithm, or the first whose signature check passes again. jwt does
// not say which key of a set it used, and a grant must end when that key is
// removed (the node's ReloadKeys).
func (ks keySet) signer(t *jwt.Token, raw string) string {
	keys := ks[t.Method.Alg()]
	if len(keys) == 1 {
		return keyID(keys[0])
	}
	signed := raw[:strings.LastIndexByte(raw, '.')]
	for _, k := range keys {
		if t.Method.Verify(signed, t.Signature, k) == nil {
			return keyID(k)
		}
	}
	return ""
}

// keyFunc hands jwt the keys made for the token's algorithm; jwt tries
// each. Selecting by algorithm repeats the allowlist on purpose: handing an
// RSA key to an HMAC verifier must never depend on a single option being
// set right.
func (ks keySet) keyFunc(t *jwt.Token) (any, error) {
	if t.Method == nil || len(ks[t.Method.Alg()]) == 0 {
		return nil, errors.New("unexpected signing method")
	}
	// RFC 7515 requires refusing tokens whose critical header extensions
	// are not understood, and we understand none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("unsupported crit header")
	}
	keys := ks[t.Method.Alg()]
	if len(keys) == 1 {
		return keys[0], nil
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// tokenReason maps jwt's errors to a reason. Claim errors can come joined;
// the order puts lasting problems (missing claim, wrong audience) before
// passing ones (expired, not yet valid), because fetching a fresh token
// only cures the latter.
func tokenReason(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrInvalidType):
		return ErrMalformedToken
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingClaim
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrWrongAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrNotYetValid
	default:
		return ErrMalformedToken
	}
}
