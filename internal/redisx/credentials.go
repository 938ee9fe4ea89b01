package redisx

import "sync/atomic"

// Credentials are a user name and password that may change while the node
// runs (a rotated password file). Every new connection dials with the
// current pair; connections already open stay authenticated, as Redis only
// checks a password at AUTH.
type Credentials struct {
	v atomic.Pointer[[2]string]
}

// NewCredentials holds username and password.
func NewCredentials(username, password string) *Credentials {
	c := &Credentials{}
	c.Set(username, password)
	return c
}

// Set replaces the pair for connections dialled from now on.
func (c *Credentials) Set(username, password string) { c.v.Store(&[2]string{username, password}) }

// Get returns the current pair.
func (c *Credentials) Get() (username, password string) {
	p := c.v.Load()
	return p[0], p[1]
}
