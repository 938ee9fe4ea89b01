package sioclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Why a connection ended, as Err reports it (wrapped; test with errors.Is).
var (
	// ErrClosed: Close was called.
	ErrClosed = errors.New("sioclient: closed")
	// ErrServerClosed: the server sent an Engine.IO close or a socket.io
	// disconnect for the default namespace.
	ErrServerClosed = errors.New("sioclient: closed by server")
	// ErrConnLost: the transport failed (connection reset, websocket closed
	// without a close packet, a poll or post answered with an error status).
	ErrConnLost = errors.New("sioclient: connection lost")
	// ErrPingTimeout: the server did not answer a ping within pingTimeout.
	ErrPingTimeout = errors.New("sioclient: ping timeout")
	// ErrRefused: the server answered the namespace connect with an error
	// packet instead of CONNECT.
	ErrRefused = errors.New("sioclient: connect refused")
	// ErrProtocol: the server sent something that is not Engine.IO 3 /
	// socket.io protocol v4.
	ErrProtocol = errors.New("sioclient: protocol error")
	// ErrQueueFull: too many sends are waiting for a long-polling POST.
	ErrQueueFull = errors.New("sioclient: send queue full")
	// ErrNotPolling: SendRawPayload needs the polling transport.
	ErrNotPolling = errors.New("sioclient: not on the polling transport")
)

// StatusError is an HTTP answer the client did not expect: a refused
// handshake (e.g. 403 for a bad Origin) or an error status on a poll or post.
type StatusError struct {
	StatusCode int
	// Body is the start of the response body; go-socket.io puts its reason
	// there.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sioclient: HTTP %d: %s", e.StatusCode, e.Body)
}

// Options configure Dial. The zero value dials a websocket to /socket.io/.
type Options struct {
	// Transport is "websocket" (the default) or "polling" (long-polling).
	Transport string
	// Upgrade, with Transport "polling", upgrades to websocket as a browser
	// does (probe "2probe"/"3probe", then "5") before Dial returns. If the
	// upgrade fails the client stays on polling, like a browser; UpgradeErr
	// says why. Ignored for Transport "websocket".
	Upgrade bool
	// Header holds extra handshake headers (Origin, Cookie, Authorization).
	// They are sent on every HTTP request of the connection.
	Header http.Header
	// LocalAddr is an optional source IP ("127.0.0.5") or IP:port, to
	// spread many sockets over 127.0.0.0/8 and past the ephemeral port limit.
	LocalAddr string
	// Path is the Engine.IO path; default "/socket.io/".
	Path string
	// OnEvent, if set, is called on the connection's reader goroutine for
	// every server event, and Events returns nil. It must not block for
	// long (pings are answered on the same goroutine) and must not call
	// EmitAck (the ack would be read by the goroutine it blocks).
	OnEvent func(Event)
	// EventBuffer is the capacity of the Events channel; default 1024. It
	// is only allocated when OnEvent is nil, because a load generator
	// holding thousands of sockets cannot afford 64 KiB of channel each.
	EventBuffer int
	// HandshakeTimeout bounds Dial (open, CONNECT and any upgrade);
	// default 10s.
	HandshakeTimeout time.Duration
	// EIO is the Engine.IO version: 3 (the default, socket.io 2) or 4
	// (socket.io 3/4: the client asks for the namespace with a CONNECT,
	// the server pings). EIO 4 is websocket only here.
	EIO int
	// Auth is the CONNECT payload of an EIO 4 client, a JSON object like
	// {"token":"…","topics":{…}}; nil sends none. A refusal fails Dial
	// with ErrRefused and the server's message.
	Auth json.RawMessage
}

// Event is one server event.
type Event struct {
	Name string
	// Args are the event's arguments, undecoded. Binary attachments are not
	// supported: their placeholders are left as they are and the
	// attachments dropped.
	Args []json.RawMessage
	// At is when the frame carrying the event was read.
	At time.Time
}

// writeTimeout bounds one websocket write or long-polling POST. A server
// that stops reading must fail a send rather than hang it; 10s is far above
// any healthy round trip and below go-socket.io's default pingTimeout (60s).
const writeTimeout = 10 * time.Second

// closeTimeout bounds the best-effort close packet in Close, so that
// closing a socket to a dead server stays fast.
const closeTimeout = time.Second

// maxQueued bounds packets waiting for a long-polling POST: a stalled
// server must not make Emit grow memory without bound.
const maxQueued = 1024

// Client is one socket.io connection on the default namespace.
//
// Lock order: the write lock (wlock) before mu; mu is never held while
// doing I/O.
type Client struct {
	opts    Options
	base    *url.URL // scheme, host and path; the query is built per transport
	dialer  *net.Dialer
	sid     string
	upgrErr error

	pingInterval time.Duration
	pingTimeout  time.Duration

	events    chan Event
	connected chan struct{} // closed when "40" arrives
	quit      chan struct{} // closed when the connection ends
	done      chan struct{} // closed when the reader goroutine has exited

	// ctx is the connection's lifetime; cancelling it aborts polls and
	// posts. It is not derived from Dial's ctx, which may end after Dial.
	ctx    context.Context
	cancel context.CancelFunc

	// wlock (a one-slot semaphore, so that Close can wait for it with a
	// bound) serializes writes: gorilla allows one writer at a time, and
	// posts must reach the server in order. The upgrade holds it across the
	// switch so that nothing is sent on the old transport meanwhile.
	wlock chan struct{}
	// ws is the websocket once the connection uses one; nil on polling. It
	// is atomic because Close must reach it while a writer holds wlock.
	ws atomic.Pointer[websocket.Conn]

	poll *polling // nil for websocket-only connections

	nextAckID atomic.Uint64
	inOnEvent atomic.Int32

	// lastName is the previous event's name, reused when the next event has
	// the same one so that a stream of "stale" events allocates no strings.
	// Only the reader goroutine touches it.
	lastName string
	// skipBinary counts binary attachments still to drop. Reader only.
	skipBinary int

	mu            sync.Mutex
	closed        bool
	closeAsked    bool
	err           error
	acks          map[uint64]chan []json.RawMessage
	pingTimer     *time.Timer
	pingDue       time.Time
	awaitingPong  bool
	connectedOnce bool
	// pongs counts the heartbeat's round trips, for tests that need it to
	// have carried the connection through a given number of them.
	pongs int
}

// Dial connects to baseURL (like "http://127.0.0.1:8080") and returns after
// the Engine.IO open packet and the socket.io CONNECT ("40") of the default
// namespace have arrived, and after the upgrade if Options.Upgrade asks for
// one.
func Dial(ctx context.Context, baseURL string, opts Options) (*Client, error) {
	if opts.Transport == "" {
		opts.Transport = "websocket"
	}
	if opts.Transport != "websocket" && opts.Transport != "polling" {
		return nil, fmt.Errorf("sioclient: unknown transport %q", opts.Transport)
	}
	switch {
	case opts.EIO == 0:
		opts.EIO = 3
	case opts.EIO == 4 && opts.Transport != "websocket":
		return nil, errors.New("sioclient: EIO 4 is websocket only")
	case opts.EIO != 3 && opts.EIO != 4:
		return nil, fmt.Errorf("sioclient: EIO %d, want 3 or 4", opts.EIO)
	}
	if opts.Path == "" {
		opts.Path = "/socket.io/"
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 1024
	}
	// Our own copy: the caller may reuse its map for the next Dial.
	opts.Header = opts.Header.Clone()
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("sioclient: base URL: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return nil, fmt.Errorf("sioclient: base URL scheme %q, want http or https", base.Scheme)
	}
	base.Path = strings.TrimSuffix(base.Path, "/") + "/" + strings.TrimPrefix(opts.Path, "/")
	base.RawQuery, base.Fragment = "", ""

	c := &Client{
		opts:      opts,
		base:      base,
		dialer:    &net.Dialer{},
		connected: make(chan struct{}),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		wlock:     make(chan struct{}, 1),
		acks:      make(map[uint64]chan []json.RawMessage),
	}
	if opts.LocalAddr != "" {
		la, err := resolveLocal(opts.LocalAddr)
		if err != nil {
			return nil, err
		}
		c.dialer.LocalAddr = la
	}
	if opts.OnEvent == nil {
		c.events = make(chan Event, opts.EventBuffer)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	hctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()

	var start func()
	if opts.Transport == "websocket" {
		start, err = c.openWebsocket(hctx)
	} else {
		start, err = c.openPolling(hctx)
	}
	if err != nil {
		c.cancel()
		if c.poll != nil {
			c.poll.tr.CloseIdleConnections()
		}
		return nil, err
	}
	if opts.EIO == 4 {
		// Engine.IO 4: the server pings; the namespace is asked for.
		if err := c.send(append([]byte("40"), opts.Auth...), false); err != nil {
			c.cancel()
			return nil, err
		}
	} else {
		c.startPing()
	}
	go c.readLoop(start)

	select {
	case <-c.connected:
	case <-c.done:
		select {
		case <-c.connected:
			// CONNECT came and the connection ended right after. Dial
			// keeps its promise either way, so the outcome does not
			// depend on which channel select happens to pick; Done and
			// Err report the end.
		default:
			return nil, c.Err()
		}
	case <-hctx.Done():
		c.shutdown(fmt.Errorf("sioclient: waiting for CONNECT: %w", hctx.Err()))
		<-c.done
		return nil, c.Err()
	}

	if opts.Transport == "polling" && opts.Upgrade {
		c.upgrErr = c.upgrade(hctx)
	}
	return c, nil
}

func resolveLocal(s string) (*net.TCPAddr, error) {
	host, port := s, "0"
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("sioclient: LocalAddr %q is not an IP address", s)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("sioclient: LocalAddr %q: bad port", s)
	}
	return &net.TCPAddr{IP: ip, Port: pn}, nil
}

// readLoop is the connection's one long-lived goroutine: it reads frames
// (or polls) and dispatches them until the connection ends.
func (c *Client) readLoop(run func()) {
	defer close(c.done)
	defer func() {
		if c.events != nil {
			close(c.events)
		}
		if c.poll != nil {
			c.poll.tr.CloseIdleConnections()
		}
	}()
	run()
}

// Emit sends an event without waiting for an ack. Over websocket it returns
// once the frame is written; over polling once it is queued for a POST (a
// POST that fails ends the connection, and Err says why).
func (c *Client) Emit(event string, args ...any) error {
	return c.emit(0, false, event, args)
}

// EmitAck sends an event asking for an ack and waits for the ack packet with
// the matching id; it returns the ack's arguments. go-socket.io only acks
// when the handler returns values; otherwise EmitAck waits until ctx ends.
func (c *Client) EmitAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	// socket.io-client numbers acks from 0 as well.
	id := c.nextAckID.Add(1) - 1
	ch := make(chan []json.RawMessage, 1)
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.acks[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.acks, id)
		c.mu.Unlock()
	}()
	if err := c.emit(id, true, event, args); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.quit:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) emit(id uint64, wantAck bool, event string, args []any) error {
	buf := getBuf()
	defer putBuf(buf)
	if err := appendEvent(buf, id, wantAck, event, args); err != nil {
		return err
	}
	return c.send(buf.Bytes(), false)
}

// Events returns the channel server events arrive on, or nil when
// Options.OnEvent is set. When it is full the reader blocks rather than
// drop: tests want every event, and a consumer that stops reading shows up
// as a ping timeout instead of silent loss. It is closed when the
// connection ends.
func (c *Client) Events() <-chan Event { return c.events }

// SendRaw sends one Engine.IO text packet as-is, e.g. `42["x"]`. Over
// polling it is framed as "<bytes>:<packet>" and queued like Emit.
func (c *Client) SendRaw(packet string) error {
	return c.send([]byte(packet), false)
}

// SendRawBinary sends b as-is: one binary websocket message, or over
// polling one POST with b as the whole application/octet-stream body (so a
// test can hand the server's binary payload decoder anything).
func (c *Client) SendRawBinary(b []byte) error {
	return c.send(b, true)
}

// SendRawPayload posts body as-is with the given Content-Type, for tests of
// the server's polling payload decoder. It needs the polling transport.
func (c *Client) SendRawPayload(contentType string, body []byte) error {
	if c.ws.Load() != nil || c.poll == nil {
		return ErrNotPolling
	}
	return c.poll.enqueue(c, queued{data: bytes.Clone(body), ctype: contentType})
}

// send writes one packet on the current transport.
func (c *Client) send(p []byte, binary bool) error {
	if c.poll != nil && c.ws.Load() == nil {
		q := queued{data: bytes.Clone(p)}
		if binary {
			q.ctype = "application/octet-stream"
		}
		return c.poll.enqueue(c, q)
	}
	c.wlock <- struct{}{}
	defer func() { <-c.wlock }()
	if err := c.Err(); err != nil {
		return err
	}
	return c.writeWS(c.ws.Load(), p, binary)
}

// SID is the Engine.IO session id.
func (c *Client) SID() string { return c.sid }

// Transport is the current transport: "websocket" or "polling".
func (c *Client) Transport() string {
	if c.ws.Load() != nil {
		return "websocket"
	}
	return "polling"
}

// UpgradeErr is why Options.Upgrade left the connection on polling, or nil.
func (c *Client) UpgradeErr() error { return c.upgrErr }

// Done is closed when the connection has ended, for any reason, and its
// reader goroutine has exited.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close sends a close packet (best effort, bounded by closeTimeout), ends
// the connection and waits for its reader goroutine, except when called
// from OnEvent, which runs on that goroutine. It is safe to call twice.
func (c *Client) Close() error {
	c.mu.Lock()
	first := !c.closed && !c.closeAsked
	c.closeAsked = true
	c.mu.Unlock()
	if first {
		c.sendClose()
	}
	c.shutdown(ErrClosed)
	// The check is racy only in the harmless direction: a Close from
	// another goroutine during a callback returns without waiting.
	if c.inOnEvent.Load() == 0 {
		<-c.done
	}
	return nil
}

// sendClose tells the server we are leaving, so that it frees the session
// at once instead of after pingTimeout (go-socket.io does not notice a
// polling client that just goes away). It waits for earlier sends, so an
// Emit just before Close still arrives, but no longer than closeTimeout:
// Close must not hang on a stuck writer.
func (c *Client) sendClose() {
	if c.poll != nil && c.ws.Load() == nil {
		if c.poll.enqueue(c, queued{data: []byte{eioClose}}) == nil {
			c.poll.waitFlushed(closeTimeout)
		}
		return
	}
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case c.wlock <- struct{}{}:
	case <-t.C:
		return
	}
	defer func() { <-c.wlock }()
	ws := c.ws.Load()
	if ws == nil || c.Err() != nil {
		return
	}
	deadline := time.Now().Add(closeTimeout)
	_ = ws.SetWriteDeadline(deadline)
	_ = ws.WriteMessage(websocket.TextMessage, []byte{eioClose})
	_ = ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
}

// shutdown ends the connection once; the first reason wins, except that
// after Close every reason reads as ErrClosed (the server reacting to our
// close packet is not news).
func (c *Client) shutdown(reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.closeAsked {
		reason = ErrClosed
	}
	c.closed = true
	c.err = reason
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.mu.Unlock()

	close(c.quit)
	c.cancel()
	if ws := c.ws.Load(); ws != nil {
		_ = ws.Close()
	}
}

// lost wraps a transport error as ErrConnLost, keeping the cause.
func lost(err error) error {
	if errors.Is(err, ErrProtocol) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrConnLost, err)
}

// handlePacket dispatches one Engine.IO text packet. It runs on the reader
// goroutine (or in Dial before the reader starts). A non-nil error ends
// the connection.
func (c *Client) handlePacket(p []byte, at time.Time) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty packet", ErrProtocol)
	}
	switch p[0] {
	case eioMessage:
		return c.handleMessage(p[1:], at)
	case eioPong:
		c.gotPong()
	case eioClose:
		return fmt.Errorf("%w: Engine.IO close", ErrServerClosed)
	case eioPing:
		if c.opts.EIO == 4 {
			// Engine.IO 4 servers ping and end the session without a
			// pong; the write is bounded by writeTimeout.
			return c.send([]byte{eioPong}, false)
		}
		// Engine.IO 3 servers do not ping: the client does, so a stray
		// ping is ignored rather than answered from the reader.
	case eioNoop, eioOpen, eioUpgrade:
		// Noops flush a poll during an upgrade; open and upgrade are only
		// meaningful in the handshake.
	default:
		return fmt.Errorf("%w: unknown Engine.IO packet type %q", ErrProtocol, p[0])
	}
	return nil
}

// handleBinary accounts for a binary packet: only binary attachments are
// expected, and they are dropped.
func (c *Client) handleBinary() {
	if c.skipBinary > 0 {
		c.skipBinary--
	}
}

func (c *Client) handleMessage(b []byte, at time.Time) error {
	p, err := parseSIO(b)
	if err != nil {
		return err
	}
	c.skipBinary += p.attachments
	if !p.isRoot() {
		return nil
	}
	switch p.typ {
	case sioConnect:
		c.mu.Lock()
		first := !c.connectedOnce
		c.connectedOnce = true
		c.mu.Unlock()
		if first {
			close(c.connected)
		}
	case sioDisconnect:
		return fmt.Errorf("%w: socket.io disconnect", ErrServerClosed)
	case sioError:
		select {
		case <-c.connected:
		default:
			return fmt.Errorf("%w: %s", ErrRefused, truncate(p.data))
		}
		// After CONNECT an error packet is reported as socket.io-client
		// does, as an "error" event.
		return c.deliver(Event{Name: "error", Args: []json.RawMessage{bytes.Clone(p.data)}, At: at})
	case sioEvent, sioBinaryEvent:
		// The arguments outlive the read buffer, so they get one copy.
		args, err := splitArray(bytes.Clone(p.data))
		if err != nil {
			return err
		}
		if len(args) == 0 || args[0][0] != '"' {
			return fmt.Errorf("%w: event without a name", ErrProtocol)
		}
		return c.deliver(Event{Name: c.eventName(args[0]), Args: args[1:], At: at})
	case sioAck, sioBinaryAck:
		c.mu.Lock()
		ch := c.acks[p.id]
		delete(c.acks, p.id)
		c.mu.Unlock()
		if ch == nil {
			// A late ack for a waiter that gave up, or a server bug.
			return nil
		}
		args, err := splitArray(bytes.Clone(p.data))
		if err != nil {
			return err
		}
		ch <- args // buffered 1, and the id was removed: never blocks
	}
	return nil
}

// eventName decodes the JSON string raw, reusing the previous name when it
// is the same (comparing string(raw) does not allocate).
func (c *Client) eventName(raw json.RawMessage) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		s := raw[1 : len(raw)-1]
		if string(s) != c.lastName {
			c.lastName = string(s)
		}
		return c.lastName
	}
	var s string
	_ = json.Unmarshal(raw, &s) // splitArray validated the JSON
	return s
}

func (c *Client) deliver(ev Event) error {
	if f := c.opts.OnEvent; f != nil {
		c.inOnEvent.Add(1)
		defer c.inOnEvent.Add(-1)
		f(ev)
		return nil
	}
	select {
	case c.events <- ev:
	case <-c.quit:
	}
	return nil
}

// handshake holds the Engine.IO open packet's fields.
type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
}

func (c *Client) handleOpen(p []byte) (handshake, error) {
	var h handshake
	if len(p) == 0 || p[0] != eioOpen {
		return h, fmt.Errorf("%w: first packet is not open: %q", ErrProtocol, truncate(p))
	}
	if err := json.Unmarshal(p[1:], &h); err != nil {
		return h, fmt.Errorf("%w: open packet: %w", ErrProtocol, err)
	}
	if h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 {
		return h, fmt.Errorf("%w: open packet lacks sid or ping settings: %q", ErrProtocol, truncate(p))
	}
	c.sid = h.SID
	c.pingInterval = time.Duration(h.PingInterval) * time.Millisecond
	c.pingTimeout = time.Duration(h.PingTimeout) * time.Millisecond
	return h, nil
}

// transportURL is the Engine.IO URL for a transport; sid joins an existing
// session (polling after the handshake, or an upgrade probe).
func (c *Client) transportURL(transport, sid string) string {
	u := *c.base
	q := url.Values{"EIO": {strconv.Itoa(c.opts.EIO)}, "transport": {transport}}
	if transport == "polling" {
		// Text payloads: simple to frame, and go-socket.io 1.7.0 serves
		// them (binary attachments then travel base64-encoded).
		q.Set("b64", "1")
	}
	if sid != "" {
		q.Set("sid", sid)
	}
	u.RawQuery = q.Encode()
	if transport == "websocket" {
		if u.Scheme == "https" {
			u.Scheme = "wss"
		} else {
			u.Scheme = "ws"
		}
	}
	return u.String()
}
