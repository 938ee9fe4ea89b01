package socketio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/googollee/go-socket.io/engineio/frame"
	"github.com/googollee/go-socket.io/engineio/packet"
	"github.com/googollee/go-socket.io/engineio/transport"
)

// wsWriteBufferSize is what gorilla writes the handshake's answer with: the
// buffer comes from a pool and is held only for that write.
const wsWriteBufferSize = 4 << 10

// websocketTransport replaces the library's websocket transport. gorilla
// does the opening handshake only; frames are ours both ways. Compared with
// the library's: reads are capped at MaxFrameBytes from the frame headers
// and checked before the parser, a socket in steady state has no goroutine
// waiting on it (wsread.go), each frame is written whole under a deadline,
// and there is no goroutine or timer per frame (the library starts one of
// each per NextReader and per NextWriter, only to print a reminder to call
// Close).
type websocketTransport struct {
	set      *transportSet
	upgrader websocket.Upgrader
}

var _ transport.Transport = (*websocketTransport)(nil)

func newWebsocketTransport(set *transportSet) *websocketTransport {
	return &websocketTransport{
		set: set,
		upgrader: websocket.Upgrader{
			// No read buffer of its own: gorilla then reads the handshake
			// through net/http's, and refuses a client that sent more
			// before the answer, so nothing is left buffered for our
			// reader to miss.
			WriteBufferSize: wsWriteBufferSize,
			WriteBufferPool: &set.wsWriteBufs,
			CheckOrigin:     set.origins.allowed,
			// Compression stays off: permessage-deflate keeps compressor
			// state per socket, the opposite of cheap idle sockets, and
			// hints are a few hundred bytes.
		},
	}
}

func (t *websocketTransport) Name() string { return "websocket" }

func (t *websocketTransport) owner() *transportSet { return t.set }

// Dial is not supported: this package only serves.
func (t *websocketTransport) Dial(*url.URL, http.Header) (transport.Conn, error) {
	return nil, ErrNoDial
}

// Accept upgrades the request. The connection does not implement
// http.Handler on purpose: the engine calls ServeHTTP on the transport conn
// right after Accept (engineio/server.go, both for a new session and for an
// upgrade) and the library's conn blocks there until the socket closes. After
// gorilla has hijacked the TCP connection net/http no longer touches it, so
// blocking buys nothing but a parked goroutine per socket; without a
// ServeHTTP the engine skips the call and the handler returns at once.
// requestAddr is a request's RemoteAddr as the net.Addr reject logs.
type requestAddr string

func (a requestAddr) Network() string { return "tcp" }
func (a requestAddr) String() string  { return string(a) }

// errUpgradeBusy refuses a websocket for a session that has one already.
var errUpgradeBusy = errors.New("socketio: the session has a websocket already")

func (t *websocketTransport) Accept(w http.ResponseWriter, r *http.Request) (transport.Conn, error) {
	if t.set.isClosed() {
		return nil, ErrShutdown // before the hijack, so the engine can still answer
	}
	sid := r.URL.Query().Get("sid")
	if sid != "" && !t.set.claimUpgrade(sid) {
		t.set.reject(reasonUpgrade, "websocket", requestAddr(r.RemoteAddr))
		return nil, errUpgradeBusy
	}
	// nil response headers: CORS headers mean nothing on a 101.
	ws, err := t.upgrader.Upgrade(w, r, nil)
	if err != nil {
		if sid != "" {
			t.set.doneUpgrading(sid, nil)
		}
		return nil, err
	}
	// gorilla's Conn is dropped here, with its buffers: a socket keeps
	// just the TCP connection.
	c := &wsConn{
		set:       t.set,
		nc:        ws.NetConn(),
		url:       *r.URL,
		header:    t.set.kept(r.Header),
		sid:       sid,
		handshake: newHandshake(sid != ""),
	}
	c.raw.init(c.nc)
	if sid != "" {
		t.set.setUpgrading(sid, c)
	}
	if !t.set.track(c) {
		// CloseAll ran during the upgrade. An error now would make the
		// engine answer on a connection gorilla has hijacked; a closed conn
		// makes the handshake or upgrade fail quietly instead.
		_ = c.Close()
	}
	return c, nil
}

// wsConn is one websocket as the engine sees it (transport.Conn).
type wsConn struct {
	set    *transportSet
	nc     net.Conn
	url    url.URL
	header http.Header
	sid    string // set when this websocket upgrades a polling session
	// session is the id of the session this websocket carries, once the
	// session's packets go here (see transportSet.websocketOf).
	session string

	// readMu guards the read side's state shared with Close and the
	// poller: held, readErr, resume and the liveness deadline.
	readMu sync.Mutex
	// held are whole messages read off the socket and not yet taken, after
	// the packets the client POSTed over polling while this websocket was
	// upgrading the session. nil when there are none.
	held []heldMsg
	// readErr is what ended reading; held messages still come first.
	readErr error
	// resume is the parked dispatcher (park), nil while it runs.
	resume func()
	// readBy and liveness enforce an Engine.IO 3 read deadline
	// (SetReadDeadline).
	readBy   time.Time
	liveness *time.Timer
	// in (the start of a frame still arriving) and frames are touched only
	// by whoever reads the socket now: the handshake's or the probe's
	// goroutine, then one woken reader at a time.
	in     []byte
	frames frameReader
	// evented: the conn carries its session, whose reader never waits on
	// it (NextReader).
	evented atomic.Bool
	// token names the conn to the poller; under the poller's lock.
	token uint64

	// writeMu serializes frame writes: hints come from the writer pool,
	// CONNECT and acks from the connection's reader, pongs from the
	// session, control replies from the read path.
	writeMu sync.Mutex
	// raw writes without waiting (trySend); where the connection does not
	// allow it (!raw.ok()), trySend keeps every frame for flush.
	raw rawWriter
	// pending is what trySend took but could not write yet: the rest of a
	// frame. It is written before anything else, by flush or by the next
	// write that may wait. pendMu, not writeMu, guards it: trySend keeps a
	// frame here when another goroutine holds writeMu.
	pendMu  sync.Mutex
	pending []byte
	// writeDeadline is the library's write deadline (unix nanoseconds, 0 for
	// none). It is set from the reader goroutine on every ping, so atomic.
	writeDeadline atomic.Int64

	closed    atomic.Bool
	closeOnce sync.Once

	handshake *handshake
}

var _ transport.Conn = (*wsConn)(nil)

// NextReader returns one whole message, checked, with its Engine.IO packet
// type (MaxFrameBytes was enforced from the frame headers, before any
// payload was buffered). Once the conn carries its session it never waits:
// with no whole message there it returns an idleReader as a MESSAGE, which
// the session hands up as it is and the packet layer parks on.
func (c *wsConn) NextReader() (frame.Type, packet.Type, io.ReadCloser, error) {
	m, err := c.readMessage(!c.evented.Load())
	if errors.Is(err, errNothingYet) {
		return frame.String, packet.MESSAGE, &idleReader{ws: c}, nil
	}
	if errors.Is(err, ErrRejected) {
		_ = c.Close() // counted already
		return 0, 0, nil, err
	}
	if err != nil {
		return 0, 0, nil, c.readFailed(err)
	}
	if m.binary {
		c.set.putBuf(m.buf)
		return 0, 0, nil, c.reject(reasonBinary)
	}
	buf := m.buf
	data := buf.Bytes()
	if len(data) == 0 {
		c.set.putBuf(buf)
		return 0, 0, nil, c.readFailed(errors.New("empty message"))
	}
	if data[0] == 'b' {
		// Engine.IO's base64 form of a binary packet.
		c.set.putBuf(buf)
		return 0, 0, nil, c.reject(reasonBinary)
	}
	pt, reason := inspect(packet.ByteToPacketType(data[0], frame.String), data[1:])
	if reason != "" {
		c.set.putBuf(buf)
		return 0, 0, nil, c.reject(reason)
	}
	if pt == packet.UPGRADE && c.sid != "" {
		// The session switches to this websocket once it reads this; the
		// probe is over, so reads stop waiting.
		c.set.carries(c.sid, c)
		c.evented.Store(true)
	}
	return frame.String, pt, newMsgReader(c.set, buf, 1), nil
}

// readFailed closes the conn and returns an error the engine will not retry:
// its session loops on errors whose Temporary() is true, and a timeout from
// the net package says it is.
func (c *wsConn) readFailed(err error) error {
	_ = c.Close()
	return fmt.Errorf("socketio: websocket read: %w", nonTemporary{err})
}

func (c *wsConn) reject(reason string) error {
	c.setReadErr(ErrRejected)
	c.set.reject(reason, "websocket", c.nc.RemoteAddr())
	_ = c.Close()
	return ErrRejected
}

// NextWriter returns a writer that buffers one frame; Close writes it.
//
// On a closed conn it returns a writer that discards, with no error, except
// for the first frame (the OPEN packet, whose failure makes the engine drop
// the session). Later writers (the session's pongs, our CONNECT and acks)
// need not tell a closed conn apart: its reader fails next and ends the
// connection, which removes the session.
func (c *wsConn) NextWriter(ft frame.Type, pt packet.Type) (io.WriteCloser, error) {
	first := c.handshake.nextWrite()
	if c.closed.Load() {
		if first {
			c.handshake.settle() // InitSession fails: no session
			return nil, ErrClosed
		}
		return discard{}, nil
	}
	w := &wsWriter{c: c, buf: c.set.getBuf(), first: first}
	switch ft {
	case frame.String:
		w.mt = websocket.TextMessage
		w.buf.WriteByte(pt.StringByte())
	case frame.Binary:
		w.mt = websocket.BinaryMessage
		w.buf.WriteByte(pt.BinaryByte())
	default:
		c.set.putBuf(w.buf)
		return nil, transport.ErrInvalidFrame
	}
	return w, nil
}

// writeFrame frames data itself and sends it. A server's frames are
// unmasked, so framing is a two-to-ten byte header; going around gorilla's
// writer saves, per frame, its framing buffers, its channel-based lock and
// a deadline of its own, which the fan-out profile showed as the largest
// cost after the write syscall.
func (c *wsConn) writeFrame(mt int, data []byte) error {
	buf := c.set.getBuf()
	defer c.set.putBuf(buf)
	var h [maxHeader]byte
	// gorilla's message type constants are the RFC 6455 opcodes.
	buf.Write(h[:putHeader(h[:], byte(mt), len(data))])
	buf.Write(data)
	return c.send(buf.Bytes())
}

// send writes one whole websocket frame, after whatever trySend left
// pending, under min(the library's deadline, now+WriteTimeout). Any failure
// closes the conn, so the library's reader fails too and the session ends:
// a half-written frame leaves the stream corrupt, and a client that cannot
// keep up is better off reconnecting.
func (c *wsConn) send(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	deadline, err := c.deadline()
	if err != nil {
		return err
	}
	return c.wrote(c.writeRaw(frame, deadline))
}

// flush writes what trySend left pending, waiting as send does.
func (c *wsConn) flush() error {
	return c.send(nil)
}

// trySend writes frame if the socket takes it without waiting. Otherwise
// it keeps what it did not write and returns ErrWouldBlock: flush, or the
// next write that may wait, delivers it. Only one goroutine may call
// trySend or flush for a conn at a time (the library's own writes may run
// alongside).
func (c *wsConn) trySend(frame []byte) error {
	if !c.writeMu.TryLock() {
		// Another write is under way, and may be waiting on a full socket.
		c.keep(frame)
		return ErrWouldBlock
	}
	defer c.writeMu.Unlock()
	// No deadline: a write that never waits needs none, and a client
	// silent past the library's deadline is closed by the reader's
	// liveness timer (SetReadDeadline: the two deadlines are one). Reading
	// the clock for every socket of a fan-out was 1.5 % of its CPU.
	if c.closed.Load() {
		return ErrClosed
	}
	c.pendMu.Lock()
	queued := len(c.pending) > 0
	c.pendMu.Unlock()
	if queued || !c.raw.ok() {
		c.keep(frame)
		return ErrWouldBlock
	}
	n, err := c.raw.write(frame, &c.closed)
	if err != nil {
		return c.wrote(err)
	}
	if n < len(frame) {
		c.keep(frame[n:])
		return ErrWouldBlock
	}
	return nil
}

// keep appends b to what is pending.
func (c *wsConn) keep(b []byte) {
	c.pendMu.Lock()
	c.pending = append(c.pending, b...)
	c.pendMu.Unlock()
}

// deadline is min(the library's deadline, now+WriteTimeout). A library
// deadline in the past means the client has not pinged within PingTimeout:
// it is gone rather than slow, the conn is closed, and the reader fails on
// the same deadline.
func (c *wsConn) deadline() (time.Time, error) {
	now := time.Now()
	deadline := now.Add(c.set.cfg.WriteTimeout)
	if ns := c.writeDeadline.Load(); ns != 0 {
		lib := time.Unix(0, ns)
		if !lib.After(now) {
			_ = c.Close()
			return time.Time{}, ErrClosed
		}
		if lib.Before(deadline) {
			deadline = lib
		}
	}
	return deadline, nil
}

// wrote closes the conn after a failed write, counting a missed deadline
// as a slow client.
func (c *wsConn) wrote(err error) error {
	if err == nil {
		return nil
	}
	_ = c.Close()
	if isTimeout(err) {
		c.set.slow(c.nc.RemoteAddr())
	}
	return fmt.Errorf("socketio: websocket write: %w", nonTemporary{err})
}

// writeRaw writes what is pending, then frame, to the TCP connection under
// deadline, and clears the deadline again: an expired one would make the
// next trySend fail without trying. c.writeMu must be held: every write to
// this connection, including the replies to control frames (control),
// goes through here, so frames never interleave.
func (c *wsConn) writeRaw(frame []byte, deadline time.Time) error {
	c.pendMu.Lock()
	pending := c.pending
	c.pending = nil
	c.pendMu.Unlock()
	if c.raw.ok() {
		// Most writes fit in the socket's buffer: written at once, they
		// need no deadline, whose setting and clearing each move a timer
		// in the runtime's poller (pings, pongs and acks of every socket).
		var err error
		if pending, err = c.writeNow(pending); err != nil {
			return err
		}
		if len(pending) == 0 {
			if frame, err = c.writeNow(frame); err != nil {
				return err
			}
		}
	}
	if len(pending) == 0 && len(frame) == 0 {
		return nil
	}
	nc := c.nc
	if err := nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if len(pending) > 0 {
		if _, err := nc.Write(pending); err != nil {
			return err
		}
	}
	if len(frame) > 0 {
		if _, err := nc.Write(frame); err != nil {
			return err
		}
	}
	return nc.SetWriteDeadline(time.Time{})
}

// writeNow writes what the socket takes of b without waiting, and returns
// the rest. c.writeMu must be held.
func (c *wsConn) writeNow(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return b, nil
	}
	n, err := c.raw.write(b, &c.closed)
	return b[n:], err
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.writeDeadline.Store(ns)
	return nil
}

// Close closes the TCP connection (no close frame: that could block on a
// full socket buffer, and socket.io clients reconnect either way). It is
// safe to call more than once and from any goroutine; a write blocked on the
// socket returns at once.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		// The session's upgrade claim goes before the conn stops counting
		// as open: once it is no longer tracked, a new upgrade may come.
		if c.sid != "" {
			c.set.doneUpgrading(c.sid, c)
		}
		c.set.untrack(c)
		c.set.dropCarrier(c)
		c.raw.release() // after closed: no raw write is on the descriptor
		err = c.nc.Close()
		c.set.poller.forget(c)
		c.wake()
	})
	return err
}

func (c *wsConn) handshakeDone() <-chan struct{} { return c.handshake.done() }

func (c *wsConn) URL() url.URL              { return c.url }
func (c *wsConn) LocalAddr() net.Addr       { return c.nc.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr      { return c.nc.RemoteAddr() }
func (c *wsConn) RemoteHeader() http.Header { return c.header }

// wsWriter buffers one outgoing frame. It implements WriteByte so the
// socket.io encoder writes to it directly instead of through a 4 KiB
// bufio.Writer per packet.
type wsWriter struct {
	c     *wsConn
	mt    int
	buf   *bytes.Buffer
	first bool
}

func (w *wsWriter) Write(p []byte) (int, error) {
	if w.buf == nil {
		return 0, ErrClosed
	}
	return w.buf.Write(p)
}

func (w *wsWriter) WriteByte(b byte) error {
	if w.buf == nil {
		return ErrClosed
	}
	return w.buf.WriteByte(b)
}

// Close writes the frame. A second Close does nothing.
func (w *wsWriter) Close() error {
	if w.buf == nil {
		return nil
	}
	err := w.c.writeFrame(w.mt, w.buf.Bytes())
	if err == nil && w.first && w.c.sid == "" {
		// A new session over websocket: its OPEN packet names it.
		if sid, ok := openedSession(w.buf.Bytes()); ok {
			w.c.set.carries(sid, w.c)
			// Nothing read it before: its reader is the session's.
			w.c.evented.Store(true)
		}
	}
	w.c.set.putBuf(w.buf)
	w.buf = nil
	if err != nil && w.first {
		w.c.handshake.settle() // InitSession fails: no session
	}
	return err
}

// openedSession reads the session id from an OPEN packet,
// 0{"sid":"…",…}, as the engine writes it.
func openedSession(p []byte) (string, bool) {
	const key = `0{"sid":"`
	if !bytes.HasPrefix(p, []byte(key)) {
		return "", false
	}
	sid, _, ok := bytes.Cut(p[len(key):], []byte(`"`))
	if !ok || !validSID(string(sid)) {
		return "", false
	}
	return string(sid), true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// nonTemporary hides a wrapped error's Temporary method. The engine's
// session retries any error that says it is temporary (a net timeout does),
// which would spin on a dead conn.
type nonTemporary struct{ err error }

func (e nonTemporary) Error() string   { return e.err.Error() }
func (e nonTemporary) Unwrap() error   { return e.err }
func (e nonTemporary) Temporary() bool { return false }
