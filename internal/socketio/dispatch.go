package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/googollee/go-socket.io/engineio/session"
)

// engineConn is what the packet layer needs of an Engine.IO session: the
// library's engineio.Conn for Engine.IO 3, a session4 for Engine.IO 4.
type engineConn interface {
	ID() string
	NextReader() (session.FrameType, io.ReadCloser, error)
	NextWriter(session.FrameType) (io.WriteCloser, error)
	Close() error
	RemoteHeader() http.Header
	RemoteAddr() net.Addr
}

// connectPacket is socket.io 2's CONNECT for the root namespace.
var connectPacket = []byte("0")

// dispatcher runs connections for one Handler.
type dispatcher[S any] struct {
	h      Handler[S]
	remove func(sid string)
	set    *transportSet
	// connectTimeout bounds how long an Engine.IO 4 session may go without
	// a socket.io connection.
	connectTimeout time.Duration
}

// serve runs one Engine.IO 3 connection from its CONNECT to its end,
// reading its packets and calling the handler. On a websocket the
// connection parks whenever it has read every whole message (loop), and a
// goroutine the poller starts takes it up again: an idle socket holds no
// goroutine. Handlers still run one at a time per connection, in order;
// what they do stays shallow (arguments are passed on raw, and Calls that
// do real work hand it to the notifier's workers).
func (d *dispatcher[S]) serve(ec engineConn) {
	c := d.newConn(ec, protocolEIO3)
	// socket.io 2 connects the root namespace without asking.
	if c.writePacket(connectPacket) != nil {
		d.end3(c)
		return
	}
	c.open()
	st, ok := d.connect(c)
	if !ok {
		d.end3(c)
		return
	}
	var resume func()
	resume = func() {
		if d.loop(c, st, resume) != loopParked {
			d.end3(c)
		}
	}
	resume()
}

func (d *dispatcher[S]) end3(c *conn) {
	_ = c.Close()
	d.remove(c.lib.ID())
}

func (d *dispatcher[S]) newConn(ec engineConn, protocol string) *conn {
	c := &conn{lib: ec, set: d.set, protocol: protocol, ready: make(chan struct{})}
	if d.h.Disconnect != nil {
		c.onEnd = func(st any) {
			s, _ := st.(S)
			d.h.Disconnect(s)
		}
	}
	return c
}

// connect runs Connect; false if the connection was closed meanwhile.
func (d *dispatcher[S]) connect(c *conn) (S, bool) {
	var st S
	if d.h.Connect != nil {
		st = d.h.Connect(c)
	}
	if c.connected(st) {
		// Closed while Connect ran: Close could not hand it the state.
		if d.h.Disconnect != nil {
			d.h.Disconnect(st)
		}
		return st, false
	}
	return st, true
}

// loopEnd is why loop returned.
type loopEnd int

const (
	loopEnded  loopEnd = iota // the connection is over
	loopLeft                  // an Engine.IO 4 client left the root namespace
	loopParked                // no whole message yet: resume runs when one comes
)

// loop reads the connection's packets until it ends, until an Engine.IO 4
// client leaves the root namespace, or until its websocket has no whole
// message: then it parks the connection, and the websocket calls resume
// (on another goroutine) once a message or the end arrives.
func (d *dispatcher[S]) loop(c *conn, st S, resume func()) loopEnd {
	for {
		ft, r, err := c.lib.NextReader()
		if err != nil {
			c.ended(err)
			return loopEnded // the session closed itself
		}
		if idle, ok := r.(*idleReader); ok {
			if idle.ws != nil && idle.ws.park(resume) {
				return loopParked
			}
			continue // something came meanwhile
		}
		left, err := d.dispatch(c, st, ft, r)
		_ = r.Close()
		if err != nil {
			c.ended(fmt.Errorf("%w: %w", ErrProtocol, err))
			if !errors.Is(err, ErrRejected) {
				d.set.reject(reasonBadPacket, c.protocol, nil)
			}
			if d.h.Error != nil {
				d.h.Error(err)
			}
			return loopEnded
		}
		if left {
			return loopLeft
		}
	}
}

// dispatch handles one packet; left is an Engine.IO 4 client's DISCONNECT
// of the root namespace.
func (d *dispatcher[S]) dispatch(c *conn, st S, ft session.FrameType, r io.Reader) (left bool, err error) {
	// Both engines hand the session their checked packets as msgReaders.
	m, ok := r.(*msgReader)
	if !ok {
		return false, fmt.Errorf("socketio: packet from an unknown transport (%T)", r)
	}
	p := m.payload()
	if c.protocol == protocolEIO4 {
		if reason := check4(ft, p); reason != "" {
			d.set.reject(reason, c.protocol, nil)
			return false, fmt.Errorf("%w: %s", ErrRejected, reason)
		}
		if p[0] == '1' && rootNamespace(p[1:]) {
			return true, nil
		}
		if p[0] == '0' {
			// Connected to the root already; other namespaces we refuse.
			if ns, _, err := parseConnect(ft, p); err != nil || ns != "/" {
				return false, c.writePacket(connectError(ns, "Invalid namespace"))
			}
			return false, nil
		}
	}
	ev, ok, err := parsePacket(p)
	if !ok || err != nil {
		return false, err
	}
	name, ok := eventName(ev.name)
	if !ok {
		return false, errEventPayload
	}
	// The packet's buffer goes back to the pool when this returns.
	arg := bytes.Clone(ev.arg)
	if f, ok := d.h.Events[name]; ok {
		f(st, arg)
		return false, nil
	}
	f, ok := d.h.Calls[name]
	if !ok {
		return false, nil // unknown events are ignored, as socket.io does
	}
	ack := f(st, arg)
	if ev.id != nil {
		if err := c.writePacket(ackPacket(ev.id, ack)); err != nil {
			// Not the client's fault: the next read ends the loop quietly.
			c.ended(err)
			_ = c.Close()
		}
	}
	return false, nil
}

// check4 is inspect for an Engine.IO 4 MESSAGE: our protocol has no
// binary, so binary messages, binary packets and attachments are refused.
func check4(ft session.FrameType, p []byte) string {
	switch {
	case ft == session.BINARY:
		return reasonBinary
	case len(p) == 0:
		return reasonBadPacket
	case binaryPacket(p):
		return reasonBinary
	}
	return ""
}

// serve4 runs an Engine.IO 4 session: socket.io 3 and 4 clients ask for
// the root namespace with a CONNECT, optionally carrying an auth payload,
// and may leave it (DISCONNECT) and come back on the same session.
// Until the client is connected reads block: a client sends its CONNECT
// right after the handshake, and connectTimeout bounds the wait.
func (d *dispatcher[S]) serve4(s *session4) {
	for {
		c, st, ok := d.connect4(s)
		if !ok {
			s.closeWith(closeError)
			return
		}
		var resume func()
		resume = func() {
			if d.steady4(s, c, st, resume) {
				d.serve4(s) // on the resuming goroutine, from a shallow stack
			}
		}
		if !d.steady4(s, c, st, resume) {
			return
		}
	}
}

// connect4 waits for the client's CONNECT and runs Connect and Auth; false
// when the session is over.
func (d *dispatcher[S]) connect4(s *session4) (*conn, S, bool) {
	for {
		var st S
		auth, ok := d.awaitConnect(s)
		if !ok {
			return nil, st, false
		}
		c := d.newConn(s, protocolEIO4)
		st, ok = d.connect(c)
		if !ok {
			return nil, st, false
		}
		if len(auth) > 0 && d.h.Auth != nil {
			if err := d.h.Auth(st, auth); err != nil {
				c.end()
				if c.writePacket(connectError("", err.Error())) != nil {
					return nil, st, false
				}
				continue
			}
		}
		if c.writePacket(connectAnswer(randomB64(sidBytes))) != nil {
			_ = c.Close()
			return nil, st, false
		}
		c.open()
		return c, st, true
	}
}

// steady4 runs a connected client's packets until it parks (false), ends
// (false, the session closed) or leaves the root namespace (true: the
// session waits for its next CONNECT).
func (d *dispatcher[S]) steady4(s *session4, c *conn, st S, resume func()) bool {
	switch d.loop(c, st, resume) {
	case loopParked:
		return false
	case loopLeft:
		c.end()
		return true
	}
	_ = c.Close()
	s.closeWith(closeError)
	return false
}

// awaitConnect reads packets until the client's CONNECT to the root
// namespace and returns its auth payload (nil if it has none). CONNECTs to
// other namespaces are refused with CONNECT_ERROR, as the reference server
// does; anything else, or no CONNECT within connectTimeout, ends the
// session.
func (d *dispatcher[S]) awaitConnect(s *session4) (json.RawMessage, bool) {
	timer := time.AfterFunc(d.connectTimeout, func() { s.closeWith(closeError) })
	defer timer.Stop()
	for {
		ft, r, err := s.nextReader(true)
		if err != nil {
			return nil, false
		}
		p := r.(*msgReader).payload()
		ns, auth, err := parseConnect(ft, p)
		if err == nil && ns != "/" {
			err = s.send(append([]byte{'4'}, connectError(ns, "Invalid namespace")...), false)
			_ = r.Close()
			if err != nil {
				return nil, false
			}
			continue
		}
		auth = bytes.Clone(auth)
		_ = r.Close()
		if err != nil {
			d.set.reject(reasonBadPacket, protocolEIO4, nil)
			if d.h.Error != nil {
				d.h.Error(err)
			}
			return nil, false
		}
		return auth, true
	}
}

// Protocol labels, as Conn.Protocol reports them.
const (
	protocolEIO3 = "eio3"
	protocolEIO4 = "eio4"
)
