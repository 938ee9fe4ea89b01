package socketio

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// engine4 is our Engine.IO 4 server. go-socket.io's engine speaks only
// Engine.IO 3 (client pings, "<len>:<packet>" payloads, no maxPayload), and
// its session loop, payload and polling transport have the version baked in,
// so v4 sessions do not go through it. What both versions share is ours
// already: the Guard, session ids, the websocket transport (upgrade, bounded
// reads, whole-frame writes), buffer pools, CloseAll and the packet layer.
//
// A session is one session4: the packets the server sends wait in its
// outbox for the client's next GET while it is on long-polling, and go
// straight to the websocket once it has one. What the client sends is read
// by the connection's dispatcher, one message at a time (the packet layer): from
// the websocket directly, or from the POSTs through a small channel.
type engine4 struct {
	set *transportSet
	ws  *websocketTransport
	// accept runs a new session; it must return quickly.
	accept func(*session4)

	mu       sync.Mutex
	sessions map[string]*session4
	// closing holds sessions the client closed over long-polling, until
	// the GET it had under way arrives (session4.lastPoll); they are no
	// longer counted.
	closing map[string]*session4
}

func newEngine4(set *transportSet, ws *websocketTransport, accept func(*session4)) *engine4 {
	return &engine4{set: set, ws: ws, accept: accept, sessions: map[string]*session4{}, closing: map[string]*session4{}}
}

// Engine.IO error codes, as the reference server answers them.
const (
	eioTransportUnknown = 0
	eioSessionUnknown   = 1
	eioBadMethod        = 2
	eioBadRequest       = 3
	eioForbidden        = 4
	eioUnsupported      = 5
)

// eioError writes the Engine.IO 4 error answer: JSON with a numeric code.
func eioError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// openPacket is the handshake: Engine.IO OPEN with the v4 fields. pingTimeout
// is how long the server waits for a PONG after its PING.
func (e *engine4) openPacket(sid string, upgrades []string) []byte {
	cfg := e.set.cfg
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{sid, upgrades, cfg.PingInterval.Milliseconds(), cfg.pongTimeout().Milliseconds(), cfg.MaxPollBody})
	return append([]byte{'0'}, b...)
}

// ServeHTTP serves an EIO=4 request the Guard let through.
func (e *engine4) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sid := q.Get("sid")
	websocket := q.Get("transport") == "websocket"
	if sid == "" {
		if websocket {
			e.openWebsocket(w, r)
		} else {
			e.openPolling(w, r)
		}
		return
	}
	s := e.lookup(sid)
	if s == nil {
		eioError(w, http.StatusBadRequest, eioSessionUnknown, "Session ID unknown")
		return
	}
	switch {
	case websocket:
		s.upgrade(w, r)
	case r.Method == http.MethodGet:
		s.poll(w, r)
	default:
		s.post(w, r)
	}
}

func (e *engine4) lookup(sid string) *session4 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sessions[sid]; s != nil {
		return s
	}
	return e.closing[sid]
}

func (e *engine4) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

// remove forgets s; with linger, it stays reachable in closing until
// remove is called again.
func (e *engine4) remove(s *session4, linger bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions[s.id] == s {
		delete(e.sessions, s.id)
		if linger {
			e.closing[s.id] = s
			return
		}
	}
	if e.closing[s.id] == s {
		delete(e.closing, s.id)
	}
}

// register adds a new session; false once CloseAll has run.
func (e *engine4) register(s *session4) bool {
	if !e.set.track(s) {
		return false
	}
	e.mu.Lock()
	e.sessions[s.id] = s
	e.mu.Unlock()
	return true
}

func (e *engine4) openPolling(w http.ResponseWriter, r *http.Request) {
	s := newSession4(e, r)
	if !e.register(s) {
		eioError(w, http.StatusServiceUnavailable, eioBadRequest, "shutting down")
		return
	}
	s.waitFirstPoll()
	e.accept(s)
	writePayload(w, [][]byte{e.openPacket(s.id, []string{"websocket"})})
}

func (e *engine4) openWebsocket(w http.ResponseWriter, r *http.Request) {
	ws := e.acceptWebsocket(w, r)
	if ws == nil {
		return
	}
	s := newWebsocketSession4(e, r, ws)
	if !e.register(s) {
		_ = ws.Close()
		return
	}
	if ws.writeFrame(textMessage, e.openPacket(s.id, []string{})) != nil {
		s.closeWith(closeError)
		return
	}
	s.mu.Lock()
	s.ws = ws
	s.mu.Unlock()
	e.set.carries(s.id, ws)
	e.accept(s)
}

// acceptWebsocket upgrades r with the shared websocket transport, or
// answers it and returns nil.
func (e *engine4) acceptWebsocket(w http.ResponseWriter, r *http.Request) *wsConn {
	tc, err := e.ws.Accept(w, r)
	if errors.Is(err, errUpgradeBusy) {
		refuseWebsocket(e.ws, w, r)
		return nil
	}
	if errors.Is(err, ErrShutdown) {
		eioError(w, http.StatusServiceUnavailable, eioBadRequest, "shutting down")
		return nil
	}
	if err != nil {
		return nil // gorilla answered
	}
	ws := tc.(*wsConn)
	// No engine goroutine follows this handshake: nothing for CloseAll to
	// wait for.
	ws.handshake.settle()
	return ws
}

// refuseWebsocket turns away a websocket for a session that has one, or is
// getting one: as the reference server does, it completes the handshake
// and closes the socket, which clients see as a plain close.
func refuseWebsocket(t *websocketTransport, w http.ResponseWriter, r *http.Request) {
	ws, err := t.upgrader.Upgrade(w, r, nil)
	if err == nil {
		_ = ws.Close()
	}
}

// writePayload answers a GET with packets joined by the record separator.
func writePayload(w http.ResponseWriter, packets [][]byte) {
	n := 0
	for _, p := range packets {
		n += len(p) + 1
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(max(n-1, 0)))
	for i, p := range packets {
		if i > 0 {
			_, _ = w.Write(recordSeparator)
		}
		_, _ = w.Write(p)
	}
}

var recordSeparator = []byte{0x1e}

// pongTimeout is what the v4 handshake announces as pingTimeout: the wait
// for a PONG after a PING. Config.PingTimeout bounds, for both versions, how
// long a session may go without a sign of life; a v4 session's last sign is
// the PONG to the previous PING, PingInterval before the next one.
func (c Config) pongTimeout() time.Duration { return c.PingTimeout - c.PingInterval }
