package notifier

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// bodyDeadline gives each request that carries a body d to deliver all of
// it, counted from when its handler starts, whatever the handler does with
// it: a client that trickles a body (one byte every few seconds) holds its
// connection for d at most, on every path, including bodies a handler never
// reads (net/http drains those before reusing the connection). Requests
// without a body are left alone, so long-poll GETs and websocket upgrades
// keep their own deadlines.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // a length, or -1 for a chunked body
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body is read whole, so it
// cannot cut short a handler that takes longer than d to answer.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// probeRoom is how many connections past --max-http-conns are let in to
// ask for /healthz or /readyz: an orchestrator probes a node a few times at
// once (liveness, readiness, a load balancer's health check), and a node it
// cannot probe gets restarted or pulled for nothing.
const probeRoom = 8

// connLimit bounds the HTTP connections that are not websockets: those
// still sending a request, long-polling, publishing or scraping. Websockets
// leave its count when they are hijacked and are bounded by --max-sockets.
// A flood of idle or slow connections must not take the node's last file
// descriptors, nor lock out /healthz, /readyz, /metrics and new clients:
//   - once the count nears the bound, each new connection closes the
//     connection that has sat longest idle between keep-alive requests
//     (a client reconnects when it needs one, and net/http's client
//     retries an idempotent request on a reused connection that closed);
//   - past the bound, probeRoom more connections are let in that may ask
//     for /healthz or /readyz only (probes); anything else is answered 503
//     and the connection closed;
//   - past that, a connection is closed as soon as it is accepted.
type connLimit struct {
	max     int64
	open    atomic.Int64
	refused func() // a connection or request turned away
	shed    func() // an idle keep-alive closed to make room

	mu   sync.Mutex
	idle map[net.Conn]time.Time // keep-alive connections between requests, since when
}

// overflowKey marks, in a connection's context, that it came in past the
// bound and may only serve probes.
type overflowKey struct{}

func newConnLimit(max int, refused, shed func()) *connLimit {
	return &connLimit{max: int64(max), refused: refused, shed: shed, idle: map[net.Conn]time.Time{}}
}

// context is the http.Server's ConnContext hook. It runs once per accepted
// connection, before its StateNew and every request, so it counts the
// connection in and decides its place; StateHijacked or StateClosed, which
// every connection reaches once, counts it out.
func (l *connLimit) context(ctx context.Context, c net.Conn) context.Context {
	n := l.open.Add(1)
	if n > l.max-l.max/10 && l.shedIdle() {
		return ctx // the shed connection's place is this one's
	}
	if n > l.max+probeRoom {
		l.refused()
		_ = c.Close()
		return ctx
	}
	if n > l.max {
		return context.WithValue(ctx, overflowKey{}, true)
	}
	return ctx
}

// state is the http.Server's ConnState hook.
func (l *connLimit) state(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateIdle:
		l.mu.Lock()
		l.idle[c] = time.Now()
		l.mu.Unlock()
	case http.StateActive:
		l.forget(c)
	case http.StateHijacked, http.StateClosed:
		l.forget(c)
		l.open.Add(-1)
	}
}

func (l *connLimit) forget(c net.Conn) {
	l.mu.Lock()
	delete(l.idle, c)
	l.mu.Unlock()
}

// shedIdle closes the longest idle keep-alive connection, if there is one.
// A linear scan: it runs only near the bound, over connections that are
// idle, and closing the oldest spares the clients that use theirs.
func (l *connLimit) shedIdle() bool {
	l.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	l.shed()
	_ = oldest.Close()
	return true
}

// isProbe reports whether r asks only whether the node is alive or ready.
func isProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// probesOnly answers requests on connections past the bound: probes are
// served, anything else gets 503; either way the connection then closes,
// so the room stays free for the next probe.
func (l *connLimit) probesOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if over, _ := r.Context().Value(overflowKey{}).(bool); over {
			w.Header().Set("Connection", "close")
			if !isProbe(r) {
				l.refused()
				http.Error(w, "too many connections", http.StatusServiceUnavailable)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
