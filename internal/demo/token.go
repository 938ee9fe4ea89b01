package demo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenTTL is how long a demo token lasts. Ten minutes keeps a leaked token
// short-lived while a page left open still exercises the shim's refresh on
// `expired` a few times an hour.
const tokenTTL = 10 * time.Minute

// errNoSecret means the notifier verifies tokens some other way (a public
// key or the app callback), so the demo cannot mint tokens it would accept.
var errNoSecret = errors.New("the demo needs the notifier's HS256 token secret")

// mintToken returns a token for a new anonymous visitor that grants the
// board's topic, signed the way the notifier verifies app tokens (DESIGN §3).
// The demo has no users, so each token names a fresh random visitor; a real
// app would put its user id in sub and that user's topics in topics.
func mintToken(secret []byte, audience string, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errNoSecret
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		"sub":    "visitor-" + hex.EncodeToString(id[:]),
		"aud":    audience,
		"topics": []string{Topic},
		"iat":    now.Unix(),
		"exp":    now.Add(tokenTTL).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
