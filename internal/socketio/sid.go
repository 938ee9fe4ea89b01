package socketio

import (
	"crypto/rand"
	"encoding/base64"
)

// sidBytes: 128 random bits make a session id unguessable; the library's
// default is a counter, and the sid is all a polling request needs to read
// or write someone else's session.
const sidBytes = 16

// sidLen is the length of a sid in unpadded URL-safe base64.
var sidLen = base64.RawURLEncoding.EncodedLen(sidBytes)

// sidGenerator is the engine's SessionIDGenerator.
type sidGenerator struct{}

// NewID returns 128 bits from crypto/rand, URL-safe so it goes into a query
// string unescaped. rand.Read does not fail (since Go 1.24 it crashes the
// program instead of returning weak bytes).
func (sidGenerator) NewID() string {
	var b [sidBytes]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validSID reports whether s could have come from sidGenerator, so the Guard
// turns garbage away before the engine echoes it into an error.
func validSID(s string) bool {
	if len(s) != sidLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
