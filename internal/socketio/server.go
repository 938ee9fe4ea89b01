package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/gorilla/websocket"
)

// Conn is one socket.io connection, as handlers see it.
type Conn interface {
	// ID is the Engine.IO session id.
	ID() string
	// Header is the header of the request that opened the connection.
	Header() http.Header
	// Protocol is the Engine.IO version the client speaks, "eio3" or
	// "eio4", for metrics; nothing else should depend on it.
	Protocol() string
	// Send writes the frame's packet as one Engine.IO message on the
	// transport the session uses now, after anything TrySend left pending.
	// It returns once the transport has taken the packet; on websocket that
	// may take up to Config.WriteTimeout, after which the connection is
	// closed.
	Send(f Frame) error
	// TrySend is Send without waiting: on websocket it writes what the
	// socket takes at once. If that is not the whole frame, or the session
	// is on long-polling (where a packet waits for the client's next GET),
	// it keeps the rest and returns ErrWouldBlock; Flush then delivers it,
	// waiting as Send does. Calls to TrySend, Flush and Send on one Conn
	// must not overlap; a Frame's memory may be reused once they return.
	TrySend(f Frame) error
	Flush() error
	// Close ends the connection; the handler's Disconnect follows. It is
	// safe to call more than once.
	Close() error
	// Err says how the connection ended, for Disconnect to record: io.EOF
	// when the client closed it, an error wrapping ErrProtocol when the
	// client broke the protocol, a timeout (os.ErrDeadlineExceeded or a
	// net.Error whose Timeout is true) when the client stopped pinging,
	// another error when the transport failed, and nil while it is open or
	// when the server closed it with Close.
	Err() error
	// Transport is "websocket" once the session is on one, else "polling".
	Transport() string
	// RemoteAddr is the peer's address: the balancer's behind one.
	RemoteAddr() string
}

// ErrProtocol is wrapped by Conn.Err when the client sent what the
// protocol does not allow: a packet the wire refused (ErrRejected too), an
// event that is not a JSON array, a namespace we do not serve.
var ErrProtocol = errors.New("socketio: protocol error")

// Handler is what a Server calls for its connections. S is the caller's
// state for one connection: Connect returns it and every later call for that
// connection gets it. Each connection's Connect, Events and Calls run one at
// a time, in order, on whichever goroutine reads it then (on a websocket, one
// woken for the messages that arrived); Disconnect runs there or in
// Conn.Close.
type Handler[S any] struct {
	// Connect is called once a client is connected to the root namespace,
	// after the CONNECT packet went out. It may Send and Close.
	Connect func(Conn) S
	// Auth is called after Connect, before the client learns it is
	// connected, when a socket.io 3/4 client's CONNECT carried an auth
	// payload (a JSON object, `io(url, {auth})`), which it gets raw. An
	// error refuses the connection: the client gets CONNECT_ERROR with the
	// error's text as its message, Disconnect follows, and the client may
	// try again on the same session. Nil takes every payload.
	Auth func(S, json.RawMessage) error
	// Disconnect is called once when the connection ends, however it ends,
	// with what Connect returned.
	Disconnect func(S)
	// Error gets protocol errors of a connection, like an event that is not
	// a JSON array or a namespace we do not serve; the connection ends
	// after each.
	Error func(error)
	// Events are client events that get no answer; Calls are events whose
	// result, a JSON value, is sent back as the ack when the client asked
	// for one. The argument is the event's first argument as raw JSON, nil
	// if it has none; it is the handler's to keep.
	Events map[string]func(S, json.RawMessage)
	Calls  map[string]func(S, json.RawMessage) json.RawMessage
}

// Server is a socket.io server for clients of socket.io 2 (Engine.IO 3,
// socket.io protocol 4) and of socket.io 3 and 4 (Engine.IO 4, socket.io
// protocol 5), told apart by the EIO query parameter. Engine.IO 3 runs on
// go-socket.io's Engine.IO server on our transports, Engine.IO 4 on ours
// (eio4.go); both are behind our Guard, with our socket.io packet layer on
// top. It is the only thing in this module that touches go-socket.io.
//
// The packet layer is ours rather than the library's because the library's
// runs three goroutines per connection (reader, writer, error loop) and
// decodes every event by reflection on the reader, which grows that stack
// for as long as the socket stays open: most of an idle socket's memory.
// Ours runs one dispatcher per connection, which holds no goroutine while
// its websocket is idle, and hands arguments on raw.
type Server struct {
	cfg    Config
	set    *transportSet
	eio    *engineio.Server
	eio4   *engine4
	engine *engineio.Options
	guard  http.Handler
	// serve runs one Engine.IO 3 connection: Handler bound to its S.
	serve func(engineConn)
}

// NewServer builds a server from cfg (see Config.Validate) that calls h.
// Call Serve to start it and Close to release it.
func NewServer[S any](cfg Config, h Handler[S]) (*Server, error) {
	d := &dispatcher[S]{h: h}
	s, err := newServer(cfg, func(s4 *session4) { go d.serve4(s4) })
	if err != nil {
		return nil, err
	}
	d.remove, d.set = s.eio.Remove, s.set
	d.connectTimeout = s.cfg.ConnectTimeout
	s.serve = d.serve
	return s, nil
}

// newServer builds the engines; accept4 runs each Engine.IO 4 session.
func newServer(cfg Config, accept4 func(*session4)) (*Server, error) {
	s := &Server{}
	if cfg.Sockets == nil {
		cfg.Sockets = s.Sockets
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.cfg = cfg.withDefaults()
	s.engine = cfg.engineOptions()
	s.set = s.engine.Transports[0].(*pollingTransport).set
	s.eio = engineio.NewServer(s.engine)
	s.eio4 = newEngine4(s.set, s.engine.Transports[1].(*websocketTransport), accept4)
	s.guard = cfg.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The Guard let through EIO 3 and 4 only.
		if r.URL.Query().Get("EIO") == "4" {
			s.eio4.ServeHTTP(w, r)
			return
		}
		s.eio.ServeHTTP(w, r)
	}))
	return s, nil
}

// ServeHTTP serves /socket.io/ requests through the Guard.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.guard.ServeHTTP(w, r) }

// Serve takes the engine's new sessions until Close, each to a goroutine
// of its own for as long as it lives. It returns io.EOF after Close.
func (s *Server) Serve() error {
	for {
		c, err := s.eio.Accept()
		if err != nil {
			return err
		}
		go s.serve(c)
	}
}

// Count is the number of open sessions, including those whose Connect has
// not run yet; it falls back to zero when every connection is gone, or
// sessions are leaking.
func (s *Server) Count() int { return s.eio.Count() + s.eio4.count() }

// Sockets is Count without the long-polling sessions still waiting for
// their first poll: what MaxSockets bounds by default.
func (s *Server) Sockets() int {
	return max(s.Count()-int(s.set.pending.Load()), 0)
}

// OriginAllowed reports whether r's Origin may connect (Config.AllowedOrigins).
func (s *Server) OriginAllowed(r *http.Request) bool { return s.cfg.OriginAllowed(r) }

// CloseAll closes every connection the server accepted and that is still
// open, including hijacked websockets that http.Server.Shutdown does not
// track, upgrades half way and held long-poll GETs. Afterwards new
// connections are refused, and it waits (at most 5s) until the engine is
// done with the handshakes it cut short, so that Close is safe next. It
// returns how many connections it closed and is safe to call more than once.
func (s *Server) CloseAll() int { return closeAll(s.engine) }

// Close stops the accept loop. Call it last, after CloseAll and after the
// HTTP server stopped: go-socket.io's engine panics on a handshake that
// finishes after it.
func (s *Server) Close() error { return s.eio.Close() }

// conn is our Conn over an Engine.IO session: one socket.io connection to
// the root namespace. On Engine.IO 4 a session may carry several in turn
// (the client leaves and connects again), each its own conn.
type conn struct {
	lib      engineConn
	set      *transportSet
	protocol string
	// ready is closed once the CONNECT answer is out (open) or the conn is
	// over (end, Close). Until then sends wait: Connect may queue packets
	// that must not overtake the answer.
	ready     chan struct{}
	readyOnce sync.Once
	// opened is ready's state for isOpen, which every TrySend asks: a load
	// is cheaper than a select.
	opened atomic.Bool
	// detached: this socket.io connection is over but its Engine.IO
	// session goes on (a refused auth, or the client left the namespace),
	// so Close must not end the session.
	detached atomic.Bool
	// onEnd calls Handler.Disconnect with the state; nil if there is none.
	onEnd func(st any)
	// ws caches the websocket that carries the session; nil while the
	// session is on long-polling (or has not been looked up yet).
	ws atomic.Pointer[wsConn]
	// err is what ended the reader (Err), stored before Disconnect runs.
	err atomic.Pointer[error]
	// polled is a packet TrySend kept for a long-polling session. Only the
	// one goroutine allowed to send on this Conn touches it.
	polled []byte

	// mu orders Connect's result against a Close from a goroutine Connect
	// started, so that Disconnect runs exactly once, after Connect, with
	// its state.
	mu    sync.Mutex
	st    any
	isSet bool // Connect returned st
	gone  bool // Close ran
}

// connected records Connect's result; true if Close came first.
func (c *conn) connected(st any) (gone bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st, c.isSet = st, true
	return c.gone
}

// disconnected records the end and returns the state to hand to
// Disconnect, if Connect has returned it already.
func (c *conn) disconnected() (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return nil, false
	}
	c.gone = true
	return c.st, c.isSet
}

// ended records why the reader ended, unless the server closed the
// connection first (then its reader fails only because of that Close).
func (c *conn) ended(err error) {
	c.mu.Lock()
	gone := c.gone
	c.mu.Unlock()
	if gone {
		return
	}
	var closed *websocket.CloseError
	switch {
	case errors.Is(err, ErrRejected):
		err = fmt.Errorf("%w: %w", ErrProtocol, err)
	case errors.As(err, &closed) && closed.Code != websocket.CloseAbnormalClosure:
		// A websocket close frame is the client closing, like Engine.IO's
		// close packet (io.EOF).
		err = fmt.Errorf("%w: %w", io.EOF, err)
	}
	c.err.Store(&err)
}

func (c *conn) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *conn) Transport() string {
	if c.websocket() != nil {
		return "websocket"
	}
	return "polling"
}

func (c *conn) RemoteAddr() string {
	if a := c.lib.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (c *conn) ID() string          { return c.lib.ID() }
func (c *conn) Header() http.Header { return c.lib.RemoteHeader() }

func (c *conn) Protocol() string { return c.protocol }

// open lets sends through: the CONNECT answer is out.
func (c *conn) open() {
	c.readyOnce.Do(func() {
		c.opened.Store(true)
		close(c.ready)
	})
}

// end is the end of this socket.io connection but not of its session:
// Disconnect runs, and sends fail from now on.
func (c *conn) end() {
	c.detached.Store(true)
	c.open()
	if st, ok := c.disconnected(); ok && c.onEnd != nil {
		c.onEnd(st)
	}
}

// wait blocks until sends may go out; ErrClosed if they never will.
func (c *conn) wait() error {
	<-c.ready
	if c.detached.Load() {
		return ErrClosed
	}
	return nil
}

func (c *conn) isOpen() bool {
	return c.opened.Load() && !c.detached.Load()
}

// Close runs Disconnect (once, here, so that a caller that closes a
// connection finds it gone when Close returns) and ends the session, which
// ends the connection's reader.
func (c *conn) Close() error {
	if st, ok := c.disconnected(); ok && c.onEnd != nil {
		c.onEnd(st)
	}
	if c.detached.Load() {
		return nil
	}
	c.detached.Store(true)
	c.open()
	return c.lib.Close()
}

// websocket returns the websocket that carries the session, if any. A
// session never goes back from websocket to long-polling, so it is cached.
func (c *conn) websocket() *wsConn {
	if ws := c.ws.Load(); ws != nil {
		return ws
	}
	ws := c.set.websocketOf(c.lib.ID())
	if ws != nil {
		c.ws.Store(ws)
	}
	return ws
}

// Websocket writes go straight to the connection, without the session's
// NextWriter and a copy per packet; long-polling goes through the session,
// whose payload the client's GETs collect.
func (c *conn) Send(f Frame) error {
	if err := c.wait(); err != nil {
		return err
	}
	if err := c.flushPolled(); err != nil {
		return err
	}
	if ws := c.websocket(); ws != nil {
		return ws.send(f.ws)
	}
	return c.writePacket(f.Packet())
}

func (c *conn) TrySend(f Frame) error {
	if len(c.polled) == 0 && c.isOpen() {
		if ws := c.websocket(); ws != nil {
			return ws.trySend(f.ws)
		}
	}
	c.polled = append(c.polled[:0], f.Packet()...)
	return ErrWouldBlock
}

func (c *conn) Flush() error {
	if err := c.wait(); err != nil {
		return err
	}
	if err := c.flushPolled(); err != nil {
		return err
	}
	if ws := c.websocket(); ws != nil {
		return ws.flush()
	}
	return nil
}

// flushPolled sends the packet TrySend kept, over whichever transport the
// session uses by now.
func (c *conn) flushPolled() error {
	if len(c.polled) == 0 {
		return nil
	}
	p := c.polled
	c.polled = nil
	if ws := c.websocket(); ws != nil {
		return ws.writeFrame(textMessage, append([]byte{'4'}, p...))
	}
	return c.writePacket(p)
}

// writePacket writes one packet through the session, which picks the
// transport it uses now. Safe alongside Send: the transports lock each
// frame.
func (c *conn) writePacket(packet []byte) error {
	w, err := c.lib.NextWriter(session.TEXT)
	if err != nil {
		return err
	}
	if _, err := w.Write(packet); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}
