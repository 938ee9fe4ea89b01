package socketio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/gorilla/websocket"
)

// closeReason says who ended a session, which decides what a GET held at
// that moment gets: NOOP when the client closed (it is gone and waits for
// nothing), CLOSE when the server did, so the client knows.
type closeReason int

const (
	closeError  closeReason = iota // the server ended it
	closeClient                    // the client sent CLOSE
)

// probeGrace is how long a GET arriving during an upgrade waits for the
// UPGRADE packet its client may have sent first: far more than a goroutine
// switch, and short enough that a client whose upgrade is still probing
// gets its NOOP without a noticeable delay (it waits for that NOOP before it
// sends UPGRADE).
const probeGrace = 50 * time.Millisecond

// inboxSize is how many POSTed packets wait for the session's reader before
// a POST waits too: a POST batches a few packets (a subscribe and an event
// or two), and a slow reader should slow its own client, nobody else.
const inboxSize = 8

// message4 is one Engine.IO MESSAGE from a client.
type message4 struct {
	binary bool
	buf    *bytes.Buffer
}

// session4 is one Engine.IO 4 session.
type session4 struct {
	e      *engine4
	id     string
	header http.Header
	url    string
	remote string

	inbox    chan message4 // from POSTs, to the reader
	upgraded chan struct{} // closed once the session is on its websocket
	closed   chan struct{}
	once     sync.Once

	// pending is true from the handshake until the first request after it
	// (or the end): until then the session is not a socket (Server.Sockets).
	pending atomic.Bool

	// mu guards everything below. Lock order: mu before the engine's mu
	// (lastPoll) and before the wsConn's writeMu (flushing the outbox onto
	// a new websocket holds both).
	mu sync.Mutex
	// ws carries the session once set; until then packets wait in out.
	ws *wsConn
	// out holds encoded packets for the next GET; outBytes is their size.
	out      [][]byte
	outBytes int
	// wake tells the held GET that out changed or the session closed.
	wake    chan struct{}
	polling bool // a GET is held
	probing bool // a websocket answered the probe; the upgrade is under way
	// upgrades counts upgrade requests being handled, from before their
	// websocket handshake is answered, so a GET can tell (graceUpgrade).
	upgrades int
	// attempt is closed when the websocket now taking the session through
	// the probe has switched or given up; nil when none is.
	attempt chan struct{}
	reason  closeReason
	err     error // why it ended, if fail knew (endErr)
	// The heartbeat runs on the schedule, not on when the timer got to
	// fire: the next PING is due at pingAt, and the client owes a PONG by
	// pingAt plus the pong timeout, or by that timeout after the PING
	// reached it if that is later (delivered).
	timer  *time.Timer
	pingAt time.Time
	pongBy time.Time
	// pingQueued: the PING waits in out for a GET; the pong timeout starts
	// when a GET takes it (delivered).
	pingQueued bool
	// lingering keeps a session closed by the client's CLOSE in the
	// engine's map until its last GET arrives or linger fires.
	lingering bool
	linger    *time.Timer
}

// newSession4 starts a session opened by a long-polling handshake.
func newSession4(e *engine4, r *http.Request) *session4 {
	s := &session4{
		e:        e,
		id:       e.set.nextSID(),
		header:   e.set.kept(r.Header),
		remote:   r.RemoteAddr,
		inbox:    make(chan message4, inboxSize),
		upgraded: make(chan struct{}),
		closed:   make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	s.startHeartbeat()
	return s
}

// newWebsocketSession4 starts a session opened on ws, which never polls: it
// has no inbox, no wake and no upgrade to wait for, which an idle socket
// would otherwise hold for as long as it stays open (half a KB).
func newWebsocketSession4(e *engine4, r *http.Request, ws *wsConn) *session4 {
	s := &session4{
		e:        e,
		id:       e.set.nextSID(),
		header:   ws.header,
		remote:   r.RemoteAddr,
		upgraded: settled,
		closed:   make(chan struct{}),
	}
	s.startHeartbeat()
	return s
}

func (s *session4) startHeartbeat() {
	s.pingAt = time.Now().Add(s.e.set.cfg.PingInterval)
	s.timer = time.AfterFunc(s.beatIn(s.pingAt), s.heartbeat)
}

// beatIn is how long until at, rounded up to the heartbeat's grid: a
// sixty-fourth of PingInterval, at most 100 ms. The timers of all sessions
// that fall due within one slot fire together, so the scheduler wakes a
// thread once per slot rather than once per socket: a timer of its own
// firing at its own instant for every socket was most of what an
// Engine.IO 4 node spent beyond an Engine.IO 3 one, whose clients ping.
// Deadlines stay exact: a timer only fires up to one slot late, and alive
// and delivered count from the schedule and the clock.
func (s *session4) beatIn(at time.Time) time.Duration {
	grid := int64(min(s.e.set.cfg.PingInterval/64, 100*time.Millisecond))
	if grid <= 0 {
		return time.Until(at)
	}
	ns := at.UnixNano()
	return time.Until(time.Unix(0, (ns+grid-1)/grid*grid))
}

// pollable reports whether s was opened by long-polling: a session opened on
// a websocket refuses GETs and POSTs from its first moment, before ws is
// set, so nothing ever waits on the channels it does not have.
func (s *session4) pollable() bool { return s.inbox != nil }

// waitFirstPoll marks a long-polling session as not yet polled.
func (s *session4) waitFirstPoll() {
	s.pending.Store(true)
	s.e.set.pending.Add(1)
}

func (s *session4) polled() {
	if s.pending.CompareAndSwap(true, false) {
		s.e.set.pending.Add(-1)
	}
}

// heartbeat sends a PING every PingInterval and ends the session when the
// PONG to the previous one is late. It runs on the timer's goroutine.
func (s *session4) heartbeat() {
	s.mu.Lock()
	if !s.pongBy.IsZero() {
		if time.Until(s.pongBy) > 0 {
			// The deadline moved on (delivered) while this firing was
			// on its way.
			s.timer.Reset(s.beatIn(s.pongBy))
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.fail(os.ErrDeadlineExceeded)
		return
	}
	s.pongBy = s.pingAt.Add(s.e.set.cfg.pongTimeout())
	s.timer.Reset(s.beatIn(s.pongBy))
	s.pingQueued = s.ws == nil
	s.mu.Unlock()
	if s.send([]byte("2"), false) == nil {
		s.mu.Lock()
		if !s.pingQueued {
			s.delivered()
		}
		s.mu.Unlock()
	}
}

// delivered gives the client the whole pong timeout from the moment the
// PING reached it (a late timer or a GET that came late must not eat into
// it), never less than the schedule gives. s.mu must be held.
func (s *session4) delivered() {
	if s.pongBy.IsZero() {
		return
	}
	if by := time.Now().Add(s.e.set.cfg.pongTimeout()); by.After(s.pongBy) {
		s.pongBy = by
		s.timer.Reset(s.beatIn(by))
	}
}

func (s *session4) pong() {
	s.mu.Lock()
	if !s.pongBy.IsZero() {
		s.pongBy = time.Time{}
		s.pingAt = time.Now().Add(s.e.set.cfg.PingInterval)
		s.timer.Reset(s.beatIn(s.pingAt))
	}
	s.mu.Unlock()
}

// alive ends the session if its PONG is overdue, for a request that comes
// in before the timer got to run: the deadline is the protocol's, not the
// scheduler's.
func (s *session4) alive() bool {
	s.mu.Lock()
	deadline := s.pongBy
	if deadline.IsZero() {
		// The PING is due but its timer has not run yet.
		deadline = s.pingAt.Add(s.e.set.cfg.pongTimeout())
	}
	late := time.Now().After(deadline)
	s.mu.Unlock()
	if late {
		s.fail(os.ErrDeadlineExceeded)
	}
	return !s.isClosed()
}

func (s *session4) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// send queues an encoded packet for the next GET, or writes it to the
// websocket. A client whose GETs fall behind by more than a few bodies'
// worth is closed: it cannot keep up, and it polls on reconnect.
func (s *session4) send(p []byte, binary bool) error {
	s.mu.Lock()
	if s.isClosed() {
		s.mu.Unlock()
		return ErrClosed
	}
	if ws := s.ws; ws != nil {
		s.mu.Unlock()
		mt := textMessage
		if binary {
			mt = websocket.BinaryMessage
			p = p[1:] // v4 sends binary as the bare bytes
		}
		return ws.writeFrame(mt, p)
	}
	if binary {
		p = append([]byte{'b'}, base64.StdEncoding.AppendEncode(nil, p[1:])...)
	} else {
		p = bytes.Clone(p)
	}
	s.out = append(s.out, p)
	s.outBytes += len(p)
	full := s.outBytes > 4*int(s.e.set.cfg.MaxPollBody)
	s.mu.Unlock()
	s.signal()
	if full {
		s.e.set.slow(requestAddr(s.remote))
		s.fail(errSlowPoller)
		return ErrClosed
	}
	return nil
}

func (s *session4) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// poll serves a long-polling GET: it returns what is queued, waiting for
// the next packet if there is none (the PING comes within PingInterval).
func (s *session4) poll(w http.ResponseWriter, r *http.Request) {
	s.polled()
	if s.lastPoll() {
		writePayload(w, [][]byte{[]byte("6")})
		return
	}
	s.graceUpgrade()
	if !s.alive() {
		eioError(w, http.StatusBadRequest, eioSessionUnknown, "Session ID unknown")
		return
	}
	s.mu.Lock()
	if s.ws != nil || !s.pollable() {
		s.mu.Unlock()
		eioError(w, http.StatusBadRequest, eioBadRequest, "Bad request")
		return
	}
	if s.polling {
		// Two GETs at once: a broken or hostile client. The reference
		// server ends the session; the held GET gets CLOSE.
		s.mu.Unlock()
		s.e.set.reject(reasonDuplicatePoll, "polling", requestAddr(r.RemoteAddr))
		s.fail(ErrRejected)
		eioError(w, http.StatusBadRequest, eioBadRequest, "Bad request")
		return
	}
	s.polling = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if len(s.out) > 0 {
			out := s.out
			s.out, s.outBytes, s.polling = nil, 0, false
			if s.pingQueued {
				s.pingQueued = false
				s.delivered()
			}
			s.mu.Unlock()
			writePayload(w, out)
			return
		}
		if s.isClosed() {
			last := []byte("1")
			if s.reason == closeClient {
				last = []byte("6")
			}
			s.polling = false
			s.mu.Unlock()
			writePayload(w, [][]byte{last})
			return
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.closed:
		case <-r.Context().Done():
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
			return
		}
	}
}

// post serves a long-polling POST: its packets are read whole, checked,
// and handed to the reader; it is answered once they are handed on. A
// CLOSE is answered at once.
func (s *session4) post(w http.ResponseWriter, r *http.Request) {
	s.polled()
	if !s.alive() {
		eioError(w, http.StatusBadRequest, eioSessionUnknown, "Session ID unknown")
		return
	}
	body, err := io.ReadAll(r.Body) // the Guard capped it at MaxPollBody
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.e.set.reject(reasonBody, "polling", requestAddr(r.RemoteAddr))
			s.fail(ErrRejected)
			eioError(w, http.StatusRequestEntityTooLarge, eioBadRequest, "Payload too large")
			return
		}
		eioError(w, http.StatusBadRequest, eioBadRequest, "Bad request")
		return
	}
	s.mu.Lock()
	upgraded := s.ws != nil || !s.pollable()
	s.mu.Unlock()
	if upgraded {
		eioError(w, http.StatusBadRequest, eioBadRequest, "Bad request")
		return
	}
	if reason := s.feed(body); reason != "" {
		s.e.set.reject(reason, "polling", requestAddr(r.RemoteAddr))
		s.fail(ErrRejected)
		eioError(w, http.StatusBadRequest, eioBadRequest, "Bad request")
		return
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// feed handles the packets of one POST body in order, and returns a reason
// to refuse the session for the first bad one.
func (s *session4) feed(body []byte) string {
	packets, ok := splitPayload4(body)
	if !ok {
		return reasonBadPacket
	}
	for _, p := range packets {
		m, reason := s.decode(p)
		if reason != "" {
			return reason
		}
		if m.buf == nil {
			if s.isClosed() {
				return ""
			}
			continue
		}
		select {
		case s.inbox <- m:
		case <-s.closed:
			s.e.set.putBuf(m.buf)
			return ""
		}
	}
	return ""
}

// decode handles one Engine.IO packet from a POST: control packets here,
// a MESSAGE returned for the reader.
func (s *session4) decode(p []byte) (message4, string) {
	max := s.e.set.cfg.MaxFrameBytes
	switch p[0] {
	case 'b':
		n := base64.StdEncoding.DecodedLen(len(p) - 1)
		if n > max {
			return message4{}, reasonTooLarge
		}
		buf := s.e.set.getBuf()
		buf.Grow(n)
		data, err := base64.StdEncoding.AppendDecode(buf.AvailableBuffer(), p[1:])
		if err != nil {
			s.e.set.putBuf(buf)
			return message4{}, reasonBadPacket
		}
		buf.Write(data)
		return message4{binary: true, buf: buf}, ""
	case '4':
		if len(p)-1 > max {
			return message4{}, reasonTooLarge
		}
		buf := s.e.set.getBuf()
		buf.Write(p[1:])
		return message4{buf: buf}, ""
	case '1':
		s.closeWith(closeClient)
	case '3':
		s.pong()
	case '6':
	default:
		// '0' and '5' are the server's or a websocket's; '2' (a client's
		// PING) is Engine.IO 3.
		return message4{}, reasonBadPacket
	}
	return message4{}, ""
}

// splitPayload4 splits a v4 long-polling body: packets separated by the
// record separator, none empty.
func splitPayload4(body []byte) ([][]byte, bool) {
	if len(body) == 0 {
		return nil, false
	}
	packets := bytes.Split(body, recordSeparator)
	for _, p := range packets {
		if len(p) == 0 {
			return nil, false
		}
	}
	return packets, true
}

// upgrade takes a websocket for a polling session through the probe
// (2probe, 3probe, then 5) on the request's goroutine; from then on the
// session's reader reads it.
func (s *session4) upgrade(w http.ResponseWriter, r *http.Request) {
	s.polled()
	s.mu.Lock()
	s.upgrades++
	busy := s.attempt
	var mine chan struct{}
	if busy == nil {
		mine = make(chan struct{})
		s.attempt = mine
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.upgrades--
		if mine != nil {
			s.attempt = nil
			close(mine)
		}
		s.mu.Unlock()
	}()
	if busy != nil {
		// Another websocket is in the probe: it is answered first, as on
		// the reference server's one thread, where its 2probe, sent before
		// this request, is read first. A client that sends 2probe and then
		// opens a second websocket (the official suite does) sees 3probe
		// before the refusal. The wait ends with that probe's deadline.
		select {
		case <-busy:
		case <-s.closed:
		case <-r.Context().Done():
		}
	}
	s.mu.Lock()
	taken := s.ws != nil || !s.pollable()
	s.mu.Unlock()
	if taken || !s.alive() {
		s.e.set.reject(reasonUpgrade, "websocket", requestAddr(r.RemoteAddr))
		refuseWebsocket(s.e.ws, w, r)
		return
	}
	ws := s.e.acceptWebsocket(w, r)
	if ws == nil {
		return
	}
	if !s.probe(ws) {
		_ = ws.Close()
		s.mu.Lock()
		s.probing = false
		s.mu.Unlock()
	}
}

// probe runs the upgrade's exchange under a read deadline: a client that
// stalls half way keeps its polling session.
func (s *session4) probe(ws *wsConn) bool {
	_ = ws.nc.SetReadDeadline(time.Now().Add(s.e.set.cfg.PingTimeout))
	defer func() { _ = ws.nc.SetReadDeadline(time.Time{}) }()
	for {
		m, err := ws.readMessage(true)
		if err != nil {
			return false
		}
		data := string(m.buf.Bytes())
		s.e.set.putBuf(m.buf)
		if m.binary {
			return false
		}
		switch data {
		case "2probe":
			if ws.writeFrame(textMessage, []byte("3probe")) != nil {
				return false
			}
			s.mu.Lock()
			s.probing = true
			s.mu.Unlock()
			// Release the held GET, so the client sees the polling
			// transport is idle and sends UPGRADE.
			_ = s.send([]byte("6"), false)
		case "5":
			return s.switchTo(ws)
		default:
			return false
		}
	}
}

// switchTo moves the session onto ws: what waits for a GET is written to it
// first, and the held GET, if any, is ended with NOOP.
func (s *session4) switchTo(ws *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() || s.ws != nil || !s.probing {
		return false
	}
	for _, p := range s.out {
		if p[0] == '6' {
			continue
		}
		mt, data := textMessage, p
		if p[0] == 'b' {
			mt = websocket.BinaryMessage
			data, _ = base64.StdEncoding.DecodeString(string(p[1:]))
		}
		if ws.writeFrame(mt, data) != nil {
			return false
		}
	}
	s.out, s.outBytes = nil, 0
	if s.pingQueued {
		s.pingQueued = false
		s.delivered()
	}
	if s.polling {
		s.out = [][]byte{[]byte("6")}
	}
	s.ws = ws
	s.e.set.carries(s.id, ws)
	close(s.upgraded)
	s.signal()
	return true
}

// next returns the next MESSAGE from the client, handling the control
// packets that come in between. Once on the websocket, with block false,
// it returns errNothingYet rather than wait for one.
func (s *session4) next(block bool) (message4, error) {
	for {
		select {
		case m := <-s.inbox:
			return m, nil
		default:
		}
		select {
		case m := <-s.inbox:
			return m, nil
		case <-s.closed:
			return message4{}, s.endErr()
		case <-s.upgraded:
		}
		// On the websocket now. POSTs answered before the switch may have
		// left packets in the inbox; they come first.
		select {
		case m := <-s.inbox:
			return m, nil
		default:
		}
		s.mu.Lock()
		ws := s.ws
		s.mu.Unlock()
		m, err := s.readWebsocket(ws, block)
		if err != nil || m.buf != nil {
			return m, err
		}
	}
}

// readWebsocket reads one message: a MESSAGE is returned, a control packet
// is handled (an empty message4 comes back), anything else ends the
// session. Oversize and malformed frames were refused (and counted) by the
// websocket.
func (s *session4) readWebsocket(ws *wsConn, block bool) (message4, error) {
	m, err := ws.readMessage(block)
	if errors.Is(err, errNothingYet) {
		return message4{}, err
	}
	if err != nil {
		s.fail(err)
		return message4{}, s.endErr()
	}
	buf := m.buf
	if m.binary {
		return message4{binary: true, buf: buf}, nil
	}
	data := buf.Bytes()
	if len(data) > 0 && data[0] == '4' {
		buf.Next(1)
		return message4{buf: buf}, nil
	}
	reason := ""
	switch {
	case len(data) == 1 && data[0] == '3':
		s.pong()
	case len(data) == 1 && data[0] == '1':
		s.closeWith(closeClient)
	case len(data) == 1 && data[0] == '6':
	default:
		reason = reasonBadPacket
	}
	s.e.set.putBuf(buf)
	if reason != "" {
		s.e.set.reject(reason, "websocket", ws.RemoteAddr())
		s.fail(ErrRejected)
	}
	if s.isClosed() {
		return message4{}, s.endErr()
	}
	return message4{}, nil
}

// graceUpgrade holds a GET that comes in while a websocket upgrades the
// session for a moment: it may have been sent after the probe and the
// UPGRADE, which the websocket's goroutine may not have read yet, and is
// then refused as a GET after the upgrade, in the order the client sent
// them.
func (s *session4) graceUpgrade() {
	s.mu.Lock()
	upgrading := s.upgrades > 0 && s.ws == nil
	s.mu.Unlock()
	if !upgrading {
		return
	}
	grace := time.NewTimer(probeGrace)
	defer grace.Stop()
	select {
	case <-s.upgraded:
	case <-s.closed:
	case <-grace.C:
	}
}

// lastPoll reports whether r is the GET a client that sent CLOSE over
// long-polling had under way: it gets NOOP, as if it had been held when the
// CLOSE came (the two requests race on separate connections).
func (s *session4) lastPoll() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lingering {
		return false
	}
	s.lingering = false
	s.linger.Stop()
	s.e.remove(s, false)
	return true
}

// errSlowPoller ends a session whose client let too much wait for its GETs.
var errSlowPoller = errors.New("socketio: long-polling client fell behind")

// fail ends the session for err, which the reader then reports (Conn.Err):
// os.ErrDeadlineExceeded for a missed PONG, ErrRejected for bad input, the
// transport's error otherwise.
func (s *session4) fail(err error) {
	s.mu.Lock()
	if s.err == nil && !s.isClosed() {
		s.err = err
	}
	s.mu.Unlock()
	s.closeWith(closeError)
}

// endErr is why the session ended: io.EOF when the client closed it, what
// fail recorded, else ErrClosed (the server closed it).
func (s *session4) endErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err
	case s.reason == closeClient:
		return io.EOF
	}
	return ErrClosed
}

// closeWith ends the session once: the held GET, if any, gets its last
// packet; the websocket closes; the reader's next read fails.
func (s *session4) closeWith(reason closeReason) {
	s.once.Do(func() {
		s.mu.Lock()
		s.reason = reason
		ws := s.ws
		s.timer.Stop()
		close(s.closed)
		// A client closing over long-polling has a GET under way, which
		// may arrive after its CLOSE: keep the id for that GET, a while.
		s.lingering = reason == closeClient && ws == nil && !s.polling
		if s.lingering {
			s.linger = time.AfterFunc(s.e.set.cfg.PingInterval, func() {
				s.mu.Lock()
				s.lingering = false
				s.mu.Unlock()
				s.e.remove(s, false)
			})
		}
		lingering := s.lingering
		s.mu.Unlock()
		s.polled()
		s.e.remove(s, lingering)
		s.e.set.untrack(s)
		if ws != nil {
			_ = ws.Close()
		}
		s.signal()
	})
}

// Close is the server's end of the session (Conn.Close, CloseAll).
func (s *session4) Close() error {
	s.closeWith(closeError)
	return nil
}

func (s *session4) handshakeDone() <-chan struct{} { return settled }

// settled is a closed channel: a v4 session is registered by the time
// anything could wait for it.
var settled = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// The methods the packet layer calls (engineConn).

func (s *session4) ID() string                { return s.id }
func (s *session4) RemoteHeader() http.Header { return s.header }
func (s *session4) RemoteAddr() net.Addr      { return requestAddr(s.remote) }

// NextReader hands the packet layer the next MESSAGE as a msgReader, or,
// on the websocket with none whole yet, an idleReader to park on.
func (s *session4) NextReader() (session.FrameType, io.ReadCloser, error) {
	return s.nextReader(false)
}

func (s *session4) nextReader(block bool) (session.FrameType, io.ReadCloser, error) {
	m, err := s.next(block)
	if errors.Is(err, errNothingYet) {
		s.mu.Lock()
		ws := s.ws
		s.mu.Unlock()
		return session.TEXT, &idleReader{ws: ws}, nil
	}
	if err != nil {
		return 0, nil, err
	}
	ft := session.TEXT
	if m.binary {
		ft = session.BINARY
	}
	return ft, newMsgReader(s.e.set, m.buf, 0), nil
}

// NextWriter returns a writer whose Close sends one MESSAGE.
func (s *session4) NextWriter(ft session.FrameType) (io.WriteCloser, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	w := &msgWriter4{s: s, binary: ft == session.BINARY}
	w.buf.WriteByte('4')
	return w, nil
}

type msgWriter4 struct {
	s      *session4
	binary bool
	buf    bytes.Buffer
	done   bool
}

func (w *msgWriter4) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *msgWriter4) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.s.send(w.buf.Bytes(), w.binary)
}
