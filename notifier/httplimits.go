package notifier

import (
	"io"
	"net"
	"net/http"
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

// connLimit bounds the HTTP connections that are not websockets: those
// still sending a request, long-polling, publishing or scraping. Websockets
// leave its count when they are hijacked and are bounded by --max-sockets.
// A connection past the bound is closed as soon as it is accepted, so a
// flood of idle or slow connections cannot take the node's last file
// descriptors (and with them /healthz, /metrics and every new client).
type connLimit struct {
	max     int64
	open    atomic.Int64
	refused func()
}

// state is the http.Server's ConnState hook.
func (l *connLimit) state(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		if l.open.Add(1) > l.max {
			l.refused()
			_ = c.Close() // net/http still reports it StateClosed, which counts it out
		}
	case http.StateHijacked, http.StateClosed:
		l.open.Add(-1)
	}
}
