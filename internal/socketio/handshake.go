package socketio

import (
	"sync"
	"sync/atomic"
	"time"
)

// handshakeSettle bounds two waits for the engine's handshake goroutine:
// the polling handshake GET waiting for its session to be registered, and
// CloseAll waiting for handshakes in flight. Both normally take
// microseconds; 5s only matters on a server so overloaded that its accept
// loop lags, and there an answer that may race beats no answer.
const handshakeSettle = 5 * time.Second

// handshake follows the engine's goroutine for one new session (engineio
// server.go newSession): it writes the OPEN packet (InitSession), and only
// then adds the session to its map and hands it to socketio's Serve loop,
// whose serveConn writes the CONNECT packet. So the connection's second
// write means the session is registered, and a failed first write means it
// never will be. Either way the goroutine is done with the engine: it will
// not send to the engine's accept channel later, which would panic after
// go-socket.io's Close.
type handshake struct {
	writes  atomic.Int32
	settled chan struct{}
	once    sync.Once
}

func newHandshake(upgrade bool) *handshake {
	h := &handshake{settled: make(chan struct{})}
	if upgrade {
		// An upgrade joins an existing session: no handshake goroutine.
		h.settle()
	}
	return h
}

// nextWrite is called at the start of every NextWriter and reports whether
// this is the first (the OPEN packet).
func (h *handshake) nextWrite() (first bool) {
	n := h.writes.Add(1)
	if n >= 2 {
		h.settle()
	}
	return n == 1
}

func (h *handshake) settle() { h.once.Do(func() { close(h.settled) }) }

func (h *handshake) done() <-chan struct{} { return h.settled }

// wait blocks until the handshake settled, stop closes, or the time is up.
func (h *handshake) wait(stop <-chan struct{}, timer *time.Timer) {
	select {
	case <-h.settled:
	case <-stop:
	case <-timer.C:
	}
}
