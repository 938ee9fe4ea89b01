package sioclient

import (
	"fmt"
	"time"
)

// The heartbeat follows engine.io-client 3: the client pings every
// pingInterval, and a ping unanswered for pingTimeout ends the connection.
// go-socket.io also needs the pings: it drops a session that has not pinged
// within pingTimeout.
//
// One time.AfterFunc per connection drives it, so an idle connection costs
// a runtime timer and no goroutine; at ~19,000 sockets that matters more
// than the brief goroutine each firing starts.

// startPing arms the first ping; the open packet has set the intervals.
func (c *Client) startPing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pingDue = time.Now().Add(c.pingInterval)
	c.pingTimer = time.AfterFunc(c.pingInterval, c.pingFired)
}

// pingFired runs on the timer's goroutine.
func (c *Client) pingFired() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	// A pong may have re-armed the timer while this firing was already on
	// its way; pingDue says whether this firing is still wanted.
	if now.Before(c.pingDue) {
		c.pingTimer.Reset(c.pingDue.Sub(now))
		c.mu.Unlock()
		return
	}
	if c.awaitingPong {
		c.mu.Unlock()
		c.shutdown(fmt.Errorf("%w: no pong within %v", ErrPingTimeout, c.pingTimeout))
		return
	}
	c.awaitingPong = true
	c.pingDue = now.Add(c.pingTimeout)
	c.pingTimer.Reset(c.pingTimeout)
	c.mu.Unlock()
	// A failed send ends the connection by itself.
	_ = c.send([]byte{eioPing}, false)
}

// gotPong re-arms the timer for the next ping. It runs on the reader.
func (c *Client) gotPong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.awaitingPong || c.closed {
		return
	}
	c.awaitingPong = false
	c.pongs++
	c.pingDue = time.Now().Add(c.pingInterval)
	c.pingTimer.Reset(c.pingInterval)
}

// heartbeats is how many pings the server has answered.
func (c *Client) heartbeats() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pongs
}
