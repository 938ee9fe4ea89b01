package socketio

import (
	"encoding/base64"
	"github.com/pushpoll/pushpoll/internal/ratelog"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/gorilla/websocket"
)

// preflightMaxAge lets a browser reuse a CORS preflight for 10 minutes:
// preflights stay rare, and a change to the origin list still takes effect
// quickly (Chromium caps the value at 2 hours anyway).
const preflightMaxAge = "600"

// Guard is the middleware for /socket.io/. In order, it:
//   - refuses a foreign Origin with 403, on both transports, before the
//     engine sees the request (so no session is ever created for it), and
//     sends CORS headers only to allowed origins;
//   - answers OPTIONS preflights itself (the engine would open a session);
//   - refuses JSONP (`j=`) with 400: the library reflects it into
//     text/javascript;
//   - refuses EIO versions other than 3 and 4 ("unsupported protocol"),
//     unknown transports, malformed sids and broken websocket handshakes
//     with 400; EIO 4 requests get Engine.IO 4's JSON error body;
//   - caps POST bodies at MaxPollBody (the polling transport answers 413);
//   - forwards polling requests for another node's session to that node
//     (forward.go);
//   - refuses new handshakes (no sid) with 503 while draining or full.
func (c Config) Guard(next http.Handler) http.Handler {
	c = c.withDefaults()
	o, _ := parseOrigins(c.AllowedOrigins) // Validate reports errors; bad entries never match
	g := &guard{cfg: c, origins: o, log: newRateLog(c.Logger), next: next}
	g.proxy = newForwardProxy(g)
	return g
}

type guard struct {
	cfg     Config
	origins origins
	log     *ratelog.Logger
	next    http.Handler
	proxy   *httputil.ReverseProxy // to the owners of other nodes' sessions
}

// corsHeaders are the headers cors sets.
var corsHeaders = []string{"Vary", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"}

// cors sets the CORS headers of an answer to r, whose Origin is allowed.
func (g *guard) cors(h http.Header, r *http.Request) {
	// The answer depends on Origin, so caches must key on it.
	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if !g.origins.allowed(r) {
		h.Add("Vary", "Origin")
		g.refuse(w, r, http.StatusForbidden, "origin", "origin not allowed")
		return
	}
	g.cors(h, r)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Access-Control-Max-Age", preflightMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return
	}

	q := r.URL.Query()
	if q.Has("j") {
		g.refuse(w, r, http.StatusBadRequest, "jsonp", "jsonp not supported")
		return
	}
	if v := q.Get("EIO"); v != "3" && v != "4" {
		g.refuse(w, r, http.StatusBadRequest, reasonUnsupported, "Unsupported protocol version")
		return
	}
	if msg := badTransport(r, q); msg != "" {
		status := http.StatusBadRequest
		// Engine.IO 4 answers every bad request 400, as the reference
		// server and its test suite do.
		if r.Method != http.MethodGet && r.Method != http.MethodPost && q.Get("EIO") == "3" {
			status = http.StatusMethodNotAllowed
		}
		g.refuse(w, r, status, "bad transport", msg)
		return
	}
	if r.Method == http.MethodPost {
		// The polling transport (or the owner, when forwarded) reads the
		// body whole and answers 413.
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxPollBody)
	}
	if !g.authenticForward(w, r) {
		return
	}
	if sid := q.Get("sid"); sid != "" && sidNode(sid) != g.cfg.NodeID {
		g.forward(w, r, sidNode(sid))
		return
	}
	if q.Get("sid") == "" {
		// A new handshake: the only requests that create sessions.
		if g.cfg.Draining != nil && g.cfg.Draining() {
			g.refuse(w, r, http.StatusServiceUnavailable, "draining", "draining")
			return
		}
		if g.cfg.MaxSockets > 0 && g.cfg.Sockets != nil && g.cfg.Sockets() >= g.cfg.MaxSockets {
			g.refuse(w, r, http.StatusServiceUnavailable, "full", "full")
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// badTransport says what is wrong with the transport part of a request, or
// "" if nothing is. Catching broken websocket handshakes here matters: on a
// new session the engine writes its own error after gorilla has already
// answered, and on polling it would create a session for a request that can
// never complete one.
func badTransport(r *http.Request, q url.Values) string {
	sid := q.Get("sid")
	if sid != "" && !validSID(sid) {
		return "malformed sid"
	}
	switch q.Get("transport") {
	case "polling":
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			if sid == "" {
				return "a handshake is a GET"
			}
		default:
			return "method not allowed"
		}
	case "websocket":
		if r.Method != http.MethodGet || !websocket.IsWebSocketUpgrade(r) ||
			r.Header.Get("Sec-Websocket-Version") != "13" || !validWebsocketKey(r.Header.Get("Sec-Websocket-Key")) {
			return "not a websocket handshake"
		}
	default:
		return "unknown transport"
	}
	return ""
}

// validWebsocketKey mirrors gorilla's check: base64 of 16 bytes.
func validWebsocketKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

func (g *guard) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	if g.cfg.OnReject != nil {
		g.cfg.OnReject(reason)
	}
	attrs := []slog.Attr{
		slog.String("reason", reason),
		slog.String("method", r.Method),
		slog.String("transport", truncate(r.URL.Query().Get("transport"), 20)),
		slog.String("remote", r.RemoteAddr),
	}
	if reason == "origin" {
		attrs = append(attrs, slog.String("origin", truncate(r.Header.Get("Origin"), 100)))
	}
	g.log.Log(rejectLevel(reason), reason, "request refused", attrs...)
	if r.URL.Query().Get("EIO") == "3" {
		http.Error(w, msg, status)
		return
	}
	eioError(w, status, eioCode(reason), msg)
}

// eioCode is the Engine.IO error code for a refusal reason.
func eioCode(reason string) int {
	switch reason {
	case "origin":
		return eioForbidden
	case reasonUnsupported:
		return eioUnsupported
	case "bad transport":
		return eioTransportUnknown
	}
	return eioBadRequest
}

// truncate bounds what a client can make us log.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
