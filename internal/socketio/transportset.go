package socketio

import (
	"bytes"
	"errors"
	"github.com/pushpoll/pushpoll/internal/ratelog"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrRejected ends a connection that sent something our protocol does
	// not allow; the reason went to OnReject.
	ErrRejected = errors.New("socketio: connection rejected")
	// ErrClosed is returned by a connection after Close.
	ErrClosed = errors.New("socketio: connection closed")
	// ErrShutdown is returned by Accept after CloseAll.
	ErrShutdown = errors.New("socketio: shutting down")
	// ErrNoDial: this package serves; it never dials.
	ErrNoDial = errors.New("socketio: dialing is not supported")

	errOrigin = errors.New("socketio: origin not allowed")
	errJSONP  = errors.New("socketio: jsonp not supported")
)

// maxPooledBuffer keeps the buffer pool from holding on to the odd large
// frame: buffers that grew beyond four default frames are left to the GC.
const maxPooledBuffer = 4 * defaultMaxFrameBytes

// transportSet is what the transports from one EngineOptions call share: the
// config, the open connections (for CloseAll), and buffer pools.
type transportSet struct {
	cfg     Config
	origins origins
	log     *ratelog.Logger

	// bufs holds frame buffers: a connection takes one only while it reads
	// or writes a frame, so idle sockets hold none.
	bufs sync.Pool
	// wsWriteBufs is gorilla's write buffer pool, for the same reason.
	wsWriteBufs sync.Pool
	// poller wakes parked websockets when their sockets have data.
	poller poller

	// pending counts long-polling sessions still waiting for their first
	// poll; they do not count as sockets (Server.Sockets).
	pending atomic.Int64

	mu     sync.Mutex
	conns  map[trackedConn]struct{}
	closed bool
	// upgrading maps a session id to the websocket that is upgrading it, so
	// packets a client POSTed during the upgrade can follow the session.
	upgrading map[string]*wsConn
	// carrier maps a session id to the websocket that carries its packets:
	// from its OPEN packet for a session opened over websocket, from the
	// UPGRADE packet for one that upgraded. Conn writes go there directly.
	carrier map[string]*wsConn
}

// trackedConn is a connection CloseAll can close and wait for.
type trackedConn interface {
	io.Closer
	handshakeDone() <-chan struct{}
}

func newTransportSet(cfg Config) *transportSet {
	o, _ := parseOrigins(cfg.AllowedOrigins) // Validate reports errors; bad entries never match
	return &transportSet{
		cfg:     cfg,
		origins: o,
		log:     newRateLog(cfg.Logger),
		conns:   map[trackedConn]struct{}{},

		upgrading: map[string]*wsConn{},
		carrier:   map[string]*wsConn{},
	}
}

// claimUpgrade reserves sid for one websocket at a time: a session has at
// most one, so another attempt while one is open or under way is refused
// before it costs a hijacked connection outside any socket count. The
// claim ends with doneUpgrading.
func (s *transportSet) claimUpgrade(sid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.upgrading[sid]; taken {
		return false
	}
	s.upgrading[sid] = nil
	return true
}

func (s *transportSet) setUpgrading(sid string, c *wsConn) {
	s.mu.Lock()
	s.upgrading[sid] = c
	s.mu.Unlock()
}

func (s *transportSet) upgradingTo(sid string) *wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upgrading[sid]
}

func (s *transportSet) doneUpgrading(sid string, c *wsConn) {
	s.mu.Lock()
	if s.upgrading[sid] == c {
		delete(s.upgrading, sid)
	}
	s.mu.Unlock()
}

// carries records that websocket c carries session sid from now on.
func (s *transportSet) carries(sid string, c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.session = sid
	s.carrier[sid] = c
}

// dropCarrier forgets c as a carrier; c is closed.
func (s *transportSet) dropCarrier(c *wsConn) {
	s.mu.Lock()
	if c.session != "" && s.carrier[c.session] == c {
		delete(s.carrier, c.session)
	}
	s.mu.Unlock()
}

// websocketOf returns the websocket carrying session sid, or nil while the
// session is on long-polling.
func (s *transportSet) websocketOf(sid string) *wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.carrier[sid]
}

// track registers c for CloseAll; false once CloseAll has run.
func (s *transportSet) track(c trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *transportSet) untrack(c trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *transportSet) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closeAll closes every tracked conn, then waits (bounded) until the engine
// is done with the handshakes among them, so that go-socket.io's Close
// cannot race a handshake goroutine.
func (s *transportSet) closeAll() int {
	s.mu.Lock()
	s.closed = true
	conns := make([]trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// Close outside the lock: each Close untracks itself.
	for _, c := range conns {
		_ = c.Close()
	}
	timer := time.NewTimer(handshakeSettle)
	defer timer.Stop()
	for _, c := range conns {
		select {
		case <-c.handshakeDone():
		case <-timer.C:
			return len(conns)
		}
	}
	return len(conns)
}

// kept is the part of a handshake's header its connection keeps
// (Config.Headers).
func (s *transportSet) kept(h http.Header) http.Header {
	if s.cfg.Headers == nil {
		return h
	}
	out := make(http.Header, len(s.cfg.Headers))
	for _, k := range s.cfg.Headers {
		if v := h.Values(k); len(v) > 0 {
			out[textproto.CanonicalMIMEHeaderKey(k)] = v
		}
	}
	return out
}

func (s *transportSet) getBuf() *bytes.Buffer {
	if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (s *transportSet) putBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	s.bufs.Put(b)
}

// reject counts and logs a refused connection.
func (s *transportSet) reject(reason, transport string, remote net.Addr) {
	if s.cfg.OnReject != nil {
		s.cfg.OnReject(reason)
	}
	addr := ""
	if remote != nil {
		addr = remote.String()
	}
	s.log.Log(rejectLevel(reason), reason, "connection rejected",
		slog.String("reason", reason), slog.String("transport", transport), slog.String("remote", addr))
}

// slow counts and logs a websocket that missed its write deadline.
func (s *transportSet) slow(remote net.Addr) {
	if s.cfg.OnSlow != nil {
		s.cfg.OnSlow()
	}
	s.log.Log(slog.LevelInfo, "slow", "slow websocket closed", slog.String("remote", remote.String()))
}

// checkRequest is the engine's RequestChecker: a backstop for the Guard's
// origin and JSONP refusals in case the server is mounted without it.
func (s *transportSet) checkRequest(r *http.Request) (http.Header, error) {
	if !s.origins.allowed(r) {
		return nil, errOrigin
	}
	if r.URL.Query().Has("j") {
		return nil, errJSONP
	}
	return nil, nil
}
