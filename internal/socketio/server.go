package socketio

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	gosocketio "github.com/googollee/go-socket.io"
	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/session"
)

// Conn is one socket.io connection, as handlers see it.
type Conn interface {
	// ID is the Engine.IO session id.
	ID() string
	// Header is the header of the request that opened the connection.
	Header() http.Header
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
}

// Handler is what a Server calls for its connections. S is the caller's
// state for one connection: Connect returns it and every later call for that
// connection gets it. Each connection's calls come from one goroutine, one
// at a time.
type Handler[S any] struct {
	// Connect is called once a client joined the root namespace. It cannot
	// refuse the connection (go-socket.io leaks the session of a refused
	// connect) and must not Send from within (the library writes its
	// CONNECT packet after Connect returns); it may Close.
	Connect func(Conn) S
	// Disconnect is called once when the connection ends, however it ends.
	Disconnect func(S)
	// Error gets protocol errors of a connection, like an event whose
	// argument did not decode; the connection ends after most of them.
	Error func(error)
	// Events are client events that get no answer; Calls are events whose
	// returned value is sent back as the ack when the client asked for one.
	// The argument is the event's first argument as raw JSON. A call that
	// arrives before Connect ran gets the zero S.
	Events map[string]func(S, json.RawMessage)
	Calls  map[string]func(S, json.RawMessage) any
}

// Server is a socket.io server: go-socket.io's socket.io layer on our
// transports, behind our Guard. It is the only thing in this module that
// touches go-socket.io.
type Server struct {
	cfg    Config
	set    *transportSet
	io     *gosocketio.Server
	engine *engineio.Options
	guard  http.Handler
}

// NewServer builds a server from cfg (see Config.Validate) that calls h.
// Call Serve to start it and Close to release it.
func NewServer[S any](cfg Config, h Handler[S]) (*Server, error) {
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
	s.io = gosocketio.NewServer(s.engine)
	s.guard = cfg.Guard(s.io)
	log := s.cfg.Logger.With("component", "socketio")

	state := func(c gosocketio.Conn) S {
		var st S
		if cw, ok := c.Context().(*conn); ok {
			st, _ = cw.state().(S)
		}
		return st
	}
	s.io.OnConnect("/", func(c gosocketio.Conn) error {
		fw, ok := c.(frameWriter)
		if !ok {
			// Only possible with a go-socket.io other than the pinned 1.7.0.
			log.Error("connection does not expose its Engine.IO session; closing it", "type", fmt.Sprintf("%T", c))
			go c.Close()
			return nil
		}
		// The context is set before Connect runs: whatever Connect starts
		// may close the connection, and the disconnect must find it.
		cw := &conn{lib: c, w: fw, set: s.set}
		c.SetContext(cw)
		if h.Connect == nil {
			return nil
		}
		if cw.connected(h.Connect(cw)) && h.Disconnect != nil {
			// The connection ended while Connect ran.
			h.Disconnect(cw.state().(S))
		}
		return nil
	})
	s.io.OnDisconnect("/", func(c gosocketio.Conn, _ string) {
		cw, ok := c.Context().(*conn)
		if !ok || h.Disconnect == nil {
			return
		}
		if st, ok := cw.disconnected(); ok {
			h.Disconnect(st.(S))
		}
	})
	s.io.OnError("/", func(_ gosocketio.Conn, err error) {
		if h.Error != nil {
			h.Error(err)
		}
	})
	for name, f := range h.Events {
		s.io.OnEvent("/", name, func(c gosocketio.Conn, arg json.RawMessage) { f(state(c), arg) })
	}
	for name, f := range h.Calls {
		s.io.OnEvent("/", name, func(c gosocketio.Conn, arg json.RawMessage) any { return f(state(c), arg) })
	}
	return s, nil
}

// ServeHTTP serves /socket.io/ requests through the Guard.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.guard.ServeHTTP(w, r) }

// Serve runs the library's accept loop until Close.
func (s *Server) Serve() error { return s.io.Serve() }

// Count is the number of open sessions, including those whose Connect has
// not run yet; it falls back to zero when every connection is gone, or
// sessions are leaking.
func (s *Server) Count() int { return s.io.Count() }

// Sockets is Count without the long-polling sessions still waiting for
// their first poll: what MaxSockets bounds by default.
func (s *Server) Sockets() int {
	n := s.Count()
	if p, ok := s.engine.Transports[0].(*pollingTransport); ok {
		n -= int(p.set.pending.Load())
	}
	return max(n, 0)
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
// HTTP server stopped: go-socket.io panics on a handshake that finishes
// after it.
func (s *Server) Close() error { return s.io.Close() }

// frameWriter is the Engine.IO session under a go-socket.io 1.7.0 Conn (the
// Conn embeds it, so its NextWriter is part of the Conn's method set).
// Writing there, rather than through socket.io's Emit, skips a
// reflection-driven JSON encoding per packet and an unbuffered hand-off to
// the library's writer goroutine; the session still picks the current
// transport, so upgrades from long-polling are handled as for any packet.
type frameWriter interface {
	NextWriter(session.FrameType) (io.WriteCloser, error)
}

// conn is our Conn over the library's.
type conn struct {
	lib gosocketio.Conn
	w   frameWriter
	set *transportSet
	// ws caches the websocket that carries the session; nil while the
	// session is on long-polling (or has not been looked up yet).
	ws atomic.Pointer[wsConn]
	// polled is a packet TrySend kept for a long-polling session. Only the
	// one goroutine allowed to send on this Conn touches it.
	polled []byte

	// mu orders Connect's result against a disconnect that may come from a
	// goroutine Connect started, so that Disconnect runs exactly once, after
	// Connect, with its state.
	mu    sync.Mutex
	st    any
	isSet bool // Connect returned st
	gone  bool // the library reported the disconnect
}

// connected records Connect's result; true if the disconnect came first.
func (c *conn) connected(st any) (gone bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st, c.isSet = st, true
	return c.gone
}

// disconnected records the disconnect and returns the state to hand to
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

func (c *conn) state() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func (c *conn) ID() string          { return c.lib.ID() }
func (c *conn) Header() http.Header { return c.lib.RemoteHeader() }
func (c *conn) Close() error        { return c.lib.Close() }

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
	if err := c.flushPolled(); err != nil {
		return err
	}
	if ws := c.websocket(); ws != nil {
		return ws.send(f.ws)
	}
	return c.sendPolling(f.Packet())
}

func (c *conn) TrySend(f Frame) error {
	if len(c.polled) == 0 {
		if ws := c.websocket(); ws != nil {
			return ws.trySend(f.ws)
		}
	}
	c.polled = append(c.polled[:0], f.Packet()...)
	return ErrWouldBlock
}

func (c *conn) Flush() error {
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
	return c.sendPolling(p)
}

func (c *conn) sendPolling(packet []byte) error {
	w, err := c.w.NextWriter(session.TEXT)
	if err != nil {
		return err
	}
	if _, err := w.Write(packet); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}
