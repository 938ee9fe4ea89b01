package socketio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/googollee/go-socket.io/engineio/frame"
	"github.com/googollee/go-socket.io/engineio/packet"
	"github.com/googollee/go-socket.io/engineio/payload"
	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"
)

// errPollingUpgrade: polling is the first transport, so nothing upgrades to
// it; the library would park a goroutine for PingTimeout on such a request.
var errPollingUpgrade = errors.New("socketio: polling is not an upgrade target")

// pollingTransport wraps the library's long-polling transport, whose payload
// framing we keep, and fixes what it gets wrong around it.
type pollingTransport struct {
	set   *transportSet
	inner *polling.Transport
}

var _ transport.Transport = (*pollingTransport)(nil)

func (t *pollingTransport) Name() string { return "polling" }

func (t *pollingTransport) owner() *transportSet { return t.set }

// Dial is not supported: this package only serves.
func (t *pollingTransport) Dial(*url.URL, http.Header) (transport.Conn, error) {
	return nil, ErrNoDial
}

// Accept is called by the engine for a new session (no sid) and for an
// upgrade to this transport (with sid); only the first makes sense.
func (t *pollingTransport) Accept(w http.ResponseWriter, r *http.Request) (transport.Conn, error) {
	if r.URL.Query().Get("sid") != "" {
		return nil, errPollingUpgrade
	}
	// The library's conn keeps the header of the request it accepts.
	kr := r
	if t.set.cfg.Headers != nil {
		kr = new(http.Request)
		*kr = *r
		kr.Header = t.set.kept(r.Header)
	}
	inner, err := t.inner.Accept(w, kr)
	if err != nil {
		return nil, err
	}
	h, okH := inner.(http.Handler)
	p, okP := inner.(session.Pauser)
	if !okH || !okP {
		_ = inner.Close()
		return nil, fmt.Errorf("socketio: polling conn %T lacks ServeHTTP or Pause/Resume", inner)
	}
	c := &pollConn{
		Conn:      inner,
		handler:   h,
		pauser:    p,
		set:       t.set,
		closed:    make(chan struct{}),
		handshake: newHandshake(false),
	}
	c.pending.Store(true)
	t.set.pending.Add(1)
	c.firstPoll = time.AfterFunc(t.set.cfg.FirstPollTimeout, c.abandon)
	if !t.set.track(c) {
		c.polled()
		_ = inner.Close()
		return nil, ErrShutdown
	}
	return c, nil
}

// polled records that the session is in use (or gone): it no longer
// waits for its first poll.
func (c *pollConn) polled() {
	if c.pending.CompareAndSwap(true, false) {
		c.set.pending.Add(-1)
		c.firstPoll.Stop()
	}
}

// abandon closes a session whose client never came back after the
// handshake: a bare handshake costs the engine a session and goroutines.
func (c *pollConn) abandon() {
	if c.pending.Load() {
		c.set.reject(reasonAbandon, "polling", c.RemoteAddr())
		_ = c.Close()
	}
}

// pollConn is one long-polling session as the engine sees it. Its methods
// that are not overridden (URL, addresses, headers, deadlines) are the
// library conn's.
type pollConn struct {
	transport.Conn
	handler http.Handler
	pauser  session.Pauser
	set     *transportSet

	// dead makes every POST body of this conn fail to read once the conn is
	// refused or closed. That is how a POST handler blocked in the library's
	// FeedIn gets released: FeedIn waits for the reader to finish the body
	// and does not watch for Close, only for its read deadline.
	dead      atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once

	// feedMu orders POST bodies into the payload, whose FeedIn refuses a
	// second caller ("overlap"): a POST after an abandoned upgrade waits
	// until the bodies held during it have been fed (replay), in order.
	feedMu sync.Mutex

	mu sync.Mutex
	// resumed is non-nil while paused for an upgrade, closed by Resume.
	resumed chan struct{}
	// upgraded: closed while paused, which is how the engine ends the
	// polling conn after a successful upgrade. retries counts the
	// retryable errors handed out since (see afterUpgrade).
	upgraded atomic.Bool
	retries  atomic.Int32
	// sid is the session's id, learned from the first request that
	// carries it; held are the packets and bodies POSTed while paused.
	sid        string
	held       [][]byte
	heldBodies [][]byte
	heldBytes  int64

	handshake *handshake
	served    atomic.Bool // the handshake request has been served
	// pending is true from the handshake until the session's first poll
	// (or its end); firstPoll closes the session if that takes too long.
	pending   atomic.Bool
	firstPoll *time.Timer

	// writeMu guards writing and closeInner. While the library's payload
	// has handed a packet writer to us, its GET handler (FlushOut) waits
	// for that writer's Close and not for the payload's, and a Close of the
	// payload in between makes the writer's Close skip the hand-back: the
	// GET would hang until the write deadline. So Close leaves the payload
	// to the writer's Close in that window. (A few instructions between the
	// library's hand-over and our marking it stay open; a Close landing
	// there costs one GET that waits out the deadline.) Lock order: mu and
	// writeMu are never held together.
	writeMu    sync.Mutex
	writing    bool
	closeInner bool
}

var (
	_ transport.Conn = (*pollConn)(nil)
	_ session.Pauser = (*pollConn)(nil)
	_ http.Handler   = (*pollConn)(nil)
)

// ServeHTTP serves the session's long-poll GETs and POSTs. A POST body is
// read whole here (the Guard caps it) so that too large a body gets a clean
// 413 and the library reads from memory we can cut off.
func (c *pollConn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	handshake := !c.served.Swap(true)
	if !handshake {
		c.polled()
	}
	if c.isClosed() {
		// The payload of a closed conn may stay open a moment longer (see
		// writeMu), and a POST handed to it then would wait until the read
		// deadline for a reader that never comes.
		http.Error(w, "session closed", http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodGet {
		pr := newPollResponse(w)
		// The library hands this writer to the session's writer goroutine;
		// when a long poll times out, that goroutine may still be writing
		// while the handler answers. Nothing may touch the response after
		// the handler returns.
		defer pr.finish()
		w = pr
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.set.cfg.MaxPollBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				c.set.reject(reasonBody, "polling", c.RemoteAddr())
				_ = c.Close()
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if carriesClose(body) {
			// The library would hand CLOSE to the session's reader and
			// hold this POST until it is read, which waits on whatever
			// the reader is doing: writing the CONNECT to a client that
			// never polls holds it for PingTimeout. The session ends
			// either way, so end it here and answer now.
			_ = c.Close()
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = io.WriteString(w, "ok")
			return
		}
		if c.holdIfPaused(w, r, body) {
			return
		}
		r2 := *r
		r2.Body = &postBody{data: body, dead: &c.dead}
		r = &r2
		c.feedMu.Lock()
		defer c.feedMu.Unlock()
	}
	c.handler.ServeHTTP(w, r)
	if handshake {
		// This was the handshake: the OPEN packet is in the response, which
		// net/http sends when we return. The engine adds the session to its
		// map only after writing that packet, so a fast client's next
		// request could arrive first and get "invalid sid". Hold the
		// response until the session is registered.
		timer := time.NewTimer(handshakeSettle)
		c.handshake.wait(c.closed, timer)
		timer.Stop()
	}
}

// Pause and Resume are how the engine's session parks this transport while
// the client upgrades to websocket.
func (c *pollConn) Pause() {
	c.mu.Lock()
	if c.resumed == nil {
		c.resumed = make(chan struct{})
	}
	c.mu.Unlock()
	c.pauser.Pause()
}

func (c *pollConn) Resume() {
	// Taken before anything can be fed: a POST that is not held any more
	// (below) waits until the held ones are in. No POST is being fed now:
	// those that came while paused were held.
	c.feedMu.Lock()
	c.pauser.Resume() // first, so a woken caller finds the payload working
	c.mu.Lock()
	if c.resumed != nil {
		close(c.resumed)
		c.resumed = nil
	}
	bodies := c.heldBodies
	c.held, c.heldBodies, c.heldBytes = nil, nil, 0
	c.mu.Unlock()
	if len(bodies) == 0 {
		c.feedMu.Unlock()
		return
	}
	go func() {
		defer c.feedMu.Unlock()
		c.replay(bodies)
	}()
}

// holdIfPaused answers a POST that arrives while the session is paused for
// an upgrade. The library refuses it ("payload: paused"), yet browsers send
// one in that window as a matter of course (the subscribe of a page that
// just connected), and the client only finishes the upgrade once its POST
// is answered: so answer it, and keep its packets for whichever conn the
// session ends up on (see Close and Resume).
func (c *pollConn) holdIfPaused(w http.ResponseWriter, r *http.Request, body []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sid == "" {
		c.sid = r.URL.Query().Get("sid")
	}
	if c.resumed == nil {
		return false
	}
	packets, err := decodeTextPayload(body)
	if err == nil {
		for _, p := range packets {
			if _, reason := inspect(packet.ByteToPacketType(p[0], frame.String), p[1:]); reason != "" {
				err = errors.New(reason)
				break
			}
		}
	}
	if err != nil || c.heldBytes+int64(len(body)) > c.set.cfg.MaxPollBody {
		c.set.reject(reasonBinary, "polling", c.RemoteAddr())
		c.dead.Store(true)
		go c.Close() // not under c.mu: Close takes it
		http.Error(w, "bad payload during upgrade", http.StatusBadRequest)
		return true
	}
	c.held = append(c.held, packets...)
	c.heldBodies = append(c.heldBodies, body)
	c.heldBytes += int64(len(body))
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = io.WriteString(w, "ok")
	return true
}

// replay feeds POSTs held during an abandoned upgrade back into the polling
// payload, in order (the library wants its FeedIn calls one at a time).
func (c *pollConn) replay(bodies [][]byte) {
	f, ok := c.Conn.(interface {
		FeedIn(io.Reader, bool) error
	})
	if !ok {
		return
	}
	for _, b := range bodies {
		if err := f.FeedIn(bytes.NewReader(b), false); err != nil {
			return
		}
	}
}

// waitResume blocks a caller that got the payload's temporary "paused" error
// until the upgrade fails (Resume) or succeeds (the session closes this
// conn). The engine's session retries temporary errors at once, in a loop
// that would otherwise spin on the paused payload for as long as the client
// takes to finish the upgrade (up to PingTimeout).
func (c *pollConn) waitResume() {
	c.mu.Lock()
	ch := c.resumed
	c.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-c.closed:
	}
}

// NextReader reads the next packet whole (at most MaxFrameBytes), checks it
// and releases the library's reader before handing a copy on, so the POST
// that carried it completes without waiting for the session to process it.
func (c *pollConn) NextReader() (frame.Type, packet.Type, io.ReadCloser, error) {
	if c.isClosed() {
		if c.afterUpgrade() {
			return 0, 0, nil, errUpgraded
		}
		return 0, 0, nil, ErrClosed
	}
	ft, pt, r, err := c.Conn.NextReader()
	if err != nil {
		if temporary(err) {
			c.waitResume()
		} else if c.afterUpgrade() {
			return 0, 0, nil, errUpgraded
		}
		return 0, 0, nil, err
	}
	if ft != frame.String {
		return 0, 0, nil, c.refuse(r, reasonBinary)
	}
	buf := c.set.getBuf()
	max := int64(c.set.cfg.MaxFrameBytes)
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1)); err != nil {
		c.set.putBuf(buf)
		// Dead before the reader closes, and closed after it: see refuse.
		c.dead.Store(true)
		_ = r.Close()
		_ = c.Close()
		return 0, 0, nil, fmt.Errorf("socketio: polling read: %w", nonTemporary{err})
	}
	reason := ""
	if int64(buf.Len()) > max {
		reason = reasonTooLarge
	} else {
		pt, reason = inspect(pt, buf.Bytes())
	}
	if reason != "" {
		c.set.putBuf(buf)
		return 0, 0, nil, c.refuse(r, reason)
	}
	if err := r.Close(); err != nil {
		// The rest of the body is not a valid payload. The library would
		// leave its decoder half way and stall this session until its read
		// deadline; end it now instead.
		c.set.putBuf(buf)
		_ = c.Close()
		return 0, 0, nil, fmt.Errorf("socketio: polling payload: %w", nonTemporary{err})
	}
	return ft, pt, newMsgReader(c.set, buf, 0), nil
}

// refuse ends the conn. Marking it dead first makes the library's reader
// fail on the rest of the body, which is what releases the POST handler
// blocked in FeedIn (it then answers 400). The payload must still be open
// while the reader closes: a closed payload drops that release.
func (c *pollConn) refuse(r io.Closer, reason string) error {
	c.dead.Store(true)
	_ = r.Close()
	c.set.reject(reason, "polling", c.RemoteAddr())
	_ = c.Close()
	return ErrRejected
}

// NextWriter waits, like the library's, for the client's next GET. When that
// fails for good (no GET before the write deadline, or the conn is closed),
// it closes the conn and returns a writer that discards, with no error.
//
// So a client that vanishes right after the handshake GET has its session
// ended, not held: the CONNECT write gives up, the connection's reader fails
// on the closed conn, and the session is removed. (go-socket.io's own
// socket.io layer leaked such sessions for ever; it is not used.)
func (c *pollConn) NextWriter(ft frame.Type, pt packet.Type) (io.WriteCloser, error) {
	if c.afterUpgrade() {
		return nil, errUpgraded
	}
	first := c.handshake.nextWrite()
	w, err := c.Conn.NextWriter(ft, pt)
	if err == nil {
		c.writeMu.Lock()
		c.writing = true
		c.writeMu.Unlock()
		return &pollWriter{WriteCloser: w, c: c, first: first}, nil
	}
	if temporary(err) {
		c.waitResume()
		return nil, err
	}
	if c.afterUpgrade() {
		return nil, errUpgraded
	}
	_ = c.Close()
	if first {
		// The OPEN packet: InitSession fails and the engine never adds the
		// session, so there is nothing to leak; let it fail.
		c.handshake.settle()
		return nil, err
	}
	return discard{}, nil
}

func (c *pollConn) handshakeDone() <-chan struct{} { return c.handshake.done() }

// Close is safe to call more than once and from any goroutine.
func (c *pollConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.upgraded.Store(c.resumed != nil)
		held := c.held
		c.held, c.heldBodies = nil, nil
		c.mu.Unlock()
		if len(held) > 0 && c.upgraded.Load() {
			// Before c.closed wakes the session's reader: it must find the
			// packets on the new conn when it moves there.
			if ws := c.set.upgradingTo(c.sid); ws != nil {
				ws.prepend(held)
			}
		}
		c.dead.Store(true)
		close(c.closed)
		c.polled()
		c.set.untrack(c)
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		if c.writing {
			c.closeInner = true // the writer's Close closes the payload
			return
		}
		err = c.Conn.Close()
	})
	return err
}

// writeDone is called by the packet writer after its Close: it closes the
// payload if Close came while the writer was out.
func (c *pollConn) writeDone() {
	c.writeMu.Lock()
	c.writing = false
	pending := c.closeInner
	c.closeInner = false
	c.writeMu.Unlock()
	if pending {
		_ = c.Conn.Close()
	}
}

func (c *pollConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// errUpgraded answers a reader or writer that took this conn from the
// session just before a successful upgrade replaced it, and calls it just
// after the engine closed it. Without it the reader's error ends the whole
// session, new websocket included, and a writer's packet is lost; as a
// retryable error, the session's own loop fetches the new conn and goes on.
var errUpgraded error = upgradedError{}

type upgradedError struct{}

func (upgradedError) Error() string   { return "socketio: polling conn replaced by an upgrade" }
func (upgradedError) Temporary() bool { return true }

// afterUpgrade reports whether to answer with errUpgraded. The session
// retries at once with whatever conn it holds; after a successful upgrade
// that is the new one, so a few retries suffice. The cap keeps a conn closed
// while paused for another reason (shutdown) from making the session spin.
func (c *pollConn) afterUpgrade() bool {
	return c.upgraded.Load() && c.retries.Add(1) <= 8
}

// temporary is the engine session's own test for errors it retries.
func temporary(err error) bool {
	e, ok := err.(payload.Error)
	return ok && e.Temporary()
}

// pollWriter closes the conn when the library fails to deliver a packet to
// the waiting GET, for the same reason NextWriter does. It implements
// WriteByte so the socket.io encoder skips its bufio.Writer.
type pollWriter struct {
	io.WriteCloser
	c     *pollConn
	first bool
	done  bool
	one   [1]byte
}

func (w *pollWriter) WriteByte(b byte) error {
	w.one[0] = b
	_, err := w.Write(w.one[:])
	return err
}

func (w *pollWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	err := w.WriteCloser.Close()
	w.c.writeDone()
	if err != nil && !temporary(err) {
		_ = w.c.Close()
		if w.first {
			w.c.handshake.settle() // InitSession fails: no session
		}
	}
	return err
}

// pollResponse is what the library gets for a long-poll GET. The library
// hands it to the session's writer goroutine, and when a long poll times
// out the handler answers with an error while that goroutine may still be
// writing packets. So nothing but the handler goroutine touches the real
// response: writes collect in a buffer (a poll answer is complete when the
// library's FlushOut returns; nothing streams), and finish sends it when the
// handler is done. An error status after the payload started would append
// text the client then fails to parse as packets, so it is dropped; anything
// written after finish is refused.
type pollResponse struct {
	real   http.ResponseWriter
	header http.Header // touched only by the handler goroutine

	mu       sync.Mutex
	status   int
	body     bytes.Buffer
	spoiled  bool // an error status came after the payload started
	finished bool
}

func newPollResponse(w http.ResponseWriter) *pollResponse {
	return &pollResponse{real: w, header: w.Header().Clone()}
}

func (w *pollResponse) Header() http.Header { return w.header }

func (w *pollResponse) WriteHeader(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.finished:
	case w.body.Len() > 0 || w.status != 0:
		w.spoiled = w.spoiled || status != http.StatusOK
	default:
		w.status = status
	}
}

func (w *pollResponse) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return 0, ErrClosed
	}
	if w.spoiled {
		return len(p), nil
	}
	return w.body.Write(p)
}

// finish sends what was collected; it runs on the handler goroutine.
func (w *pollResponse) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	h := w.real.Header()
	clear(h)
	for k, v := range w.header {
		h[k] = v
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.real.WriteHeader(w.status)
	_, _ = w.real.Write(w.body.Bytes())
}

// discard stands in for a writer on a conn that is already closed.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteByte(byte) error        { return nil }
func (discard) Close() error                { return nil }

// postBody is a POST body in memory that stops reading once its conn is
// dead. ReadByte makes the library's payload decoder read it directly rather
// than through a bufio.Reader, which could otherwise serve the rest of the
// body from its buffer after the conn died.
type postBody struct {
	data []byte
	off  int
	dead *atomic.Bool
}

func (b *postBody) Read(p []byte) (int, error) {
	if b.dead.Load() {
		return 0, ErrRejected
	}
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *postBody) ReadByte() (byte, error) {
	if b.dead.Load() {
		return 0, ErrRejected
	}
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	c := b.data[b.off]
	b.off++
	return c, nil
}

func (b *postBody) Close() error { return nil }

// carriesClose reports whether a text payload holds an Engine.IO CLOSE.
func carriesClose(body []byte) bool {
	packets, err := decodeTextPayload(body)
	if err != nil {
		return false
	}
	for _, p := range packets {
		if p[0] == '1' {
			return true
		}
	}
	return false
}

// decodeTextPayload splits an Engine.IO 3 text payload, "<length>:<packet>"
// repeated, where length counts UTF-16 code units as JavaScript strings do.
func decodeTextPayload(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		colon := bytes.IndexByte(b, ':')
		if colon <= 0 || colon > 10 {
			return nil, errors.New("bad payload length")
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || n <= 0 {
			return nil, errors.New("bad payload length")
		}
		b = b[colon+1:]
		end, units := 0, 0
		for units < n {
			if end >= len(b) {
				return nil, errors.New("payload shorter than its length")
			}
			r, size := utf8.DecodeRune(b[end:])
			end += size
			units += utf16.RuneLen(r)
		}
		out = append(out, b[:end])
		b = b[end:]
	}
	return out, nil
}
