package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
)

// A session id is the owning node's id followed by 128 random bits, both in
// unpadded URL-safe base64 so the sid goes into a query string unescaped.
// The random part makes a sid unguessable (the library's default is a
// counter, and the sid is all a polling request needs to read or write
// someone else's session); the node part tells any node where a polling
// request belongs, so long-polling needs no sticky sessions.
const (
	// nodeIDBytes: 48 bits keep ids of the nodes alive at one time apart
	// (a collision needs millions of nodes) and encode to whole base64
	// characters, so a node id is a plain prefix of the sid.
	nodeIDBytes = 6
	sidBytes    = 16
)

var (
	// NodeIDLen is the length of a node id.
	NodeIDLen = base64.RawURLEncoding.EncodedLen(nodeIDBytes)
	sidLen    = NodeIDLen + base64.RawURLEncoding.EncodedLen(sidBytes)
)

// NewNodeID returns a fresh random node id. A node takes a new one each time
// it starts: its sessions die with the process, so a restarted node must not
// be mistaken for the owner of the old ones.
func NewNodeID() string { return randomB64(nodeIDBytes) }

// processNodeID is the node id of a Config that sets none.
var processNodeID = sync.OnceValue(NewNodeID)

// sidGenerator is the engine's SessionIDGenerator.
type sidGenerator struct{ node string }

// NewID returns the node id and 128 bits from crypto/rand.
func (g sidGenerator) NewID() string { return g.node + randomB64(sidBytes) }

// randomB64 returns n bytes from crypto/rand in unpadded URL-safe base64.
// rand.Read does not fail (since Go 1.24 it crashes the program instead of
// returning weak bytes).
func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSID reports whether s could have come from a sidGenerator, so the
// Guard turns garbage away before the engine echoes it into an error or
// before a node id taken from it is looked up.
func validSID(s string) bool { return len(s) == sidLen && urlSafe(s) }

// ValidNodeID reports whether s has the shape of a node id.
func ValidNodeID(s string) bool { return len(s) == NodeIDLen && urlSafe(s) }

// sidNode is the id of the node that issued a valid sid.
func sidNode(sid string) string { return sid[:NodeIDLen] }

func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// nextSID is a new session id of this node, for sessions outside the
// library's engine (Engine.IO 4).
func (s *transportSet) nextSID() string { return sidGenerator{node: s.cfg.NodeID}.NewID() }
