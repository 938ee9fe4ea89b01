package notifier

import (
	"net/http"
	"sync"
	"time"
)

// clientHeader carries the client address from clientGate to onConnect, the
// only handshake data a connection keeps besides the credentials.
// clientGate sets it on every request, over whatever a client sent.
const clientHeader = "X-Pushpoll-Client-Addr"

// clientCounts is the number of sockets per client address.
type clientCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func newClientCounts() *clientCounts { return &clientCounts{n: map[string]int{}} }

func (c *clientCounts) count(addr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[addr]
}

// add counts one more socket of addr and returns how many it has now.
func (c *clientCounts) add(addr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[addr]++
	return c.n[addr]
}

func (c *clientCounts) remove(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr]--; c.n[addr] <= 0 {
		delete(c.n, addr)
	}
}

// clientGate names each socket.io request's client (the peer, or behind
// --trusted-proxies the address X-Forwarded-For gives) and refuses a new
// handshake from a client that holds --max-sockets-per-client sockets
// already, with 429, before a session exists. Handshakes that race past the
// check are closed in onConnect, so the bound holds exactly.
func (s *Server) clientGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := s.clientIP.Request(r).String()
		r.Header.Set(clientHeader, addr)
		if s.caps.perClient > 0 && !r.URL.Query().Has("sid") && s.clients.count(addr) >= s.caps.perClient {
			s.refuseClient(addr)
			http.Error(w, "too many sockets from this address", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) refuseClient(addr string) {
	s.m.wireRejected.WithLabelValues("per client").Inc()
	s.warn.Warn("per client", "socket refused: its address holds --max-sockets-per-client sockets", "client", addr, "limit", s.caps.perClient)
}

// admit counts sk against its client's bound and the node's, and arms the
// subscribe timeout; it reports false when sk is over a bound and must be
// closed.
func (s *Server) admit(sk *socket, addr string) bool {
	sk.client = addr
	sk.idle.Store(time.AfterFunc(s.cfg.SubscribeTimeout, func() {
		if !sk.subscribed.Load() {
			s.m.wireRejected.WithLabelValues("no subscribe").Inc()
			sk.closeFor(DisconnectNeverSubscribed)
		}
	}))
	if n := s.clients.add(addr); s.caps.perClient > 0 && n > s.caps.perClient {
		s.refuseClient(addr)
		return false
	}
	// The wire refuses handshakes once the node is full, but handshakes
	// that arrive together all pass its check: the one past the bound is
	// closed here, so --max-sockets holds exactly.
	if s.caps.sockets > 0 && s.sio.Sockets() > s.caps.sockets {
		s.m.wireRejected.WithLabelValues("full").Inc()
		return false
	}
	return true
}

// release undoes admit when sk's connection ends.
func (s *Server) release(sk *socket) {
	sk.stopIdle()
	s.clients.remove(sk.client)
}
