package socketio

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Long-polling without sticky sessions: a session lives on the node that
// issued its id, and the id names that node (sid.go). A polling request that
// a load balancer sends elsewhere is forwarded by the receiving node to the
// owner, at the address the owner advertises (Config.Peer), and the answer
// comes back the same way:
//
//	browser ── GET ?sid=<node B>… ──► balancer ──► node A: Guard
//	                                                  │ B is not me: Peer(B)
//	                                                  ▼
//	                                   node B: Guard (every check again) ─► session
//
// Only addresses that Peer returns are ever dialled; the client supplies a
// node id, never an address, and a node id is 8 characters of base64.

// ErrUnknownPeer is what Config.Peer wraps when no node advertises the id:
// the owner stopped, or the id was made up.
var ErrUnknownPeer = errors.New("socketio: no node advertises that id")

// ForwardedHeader marks a request that one node forwarded to another. A
// node serves such a request itself or refuses it, so a request makes at
// most one hop, even when a stale advertisement points back at a node that
// restarted under a new id. A client that sends it only stops its own
// request from being forwarded: the header grants nothing, since the owner
// checks a forwarded request exactly as a direct one.
const ForwardedHeader = "X-Pushpoll-Forwarded"

// Forward outcomes reported to Config.OnForward.
const (
	ForwardOK          = "ok"           // the owner answered (any status)
	ForwardUnknownNode = "unknown node" // no node advertises the id: 400
	ForwardLookup      = "lookup failed"
	ForwardUnreachable = "unreachable" // advertised, but did not answer: 502
)

// forwardDialTimeout: peers sit in one network, so a connection takes
// milliseconds. A peer that cannot be reached in 2s is as good as gone, and
// its client is better off reconnecting (to a live node) than waiting.
const forwardDialTimeout = 2 * time.Second

// forwardIdleConns is the keep-alive pool per peer: polls arrive in bursts
// (a POST with a subscribe, the GET it releases), and a warm connection
// saves a handshake on each.
const forwardIdleConns = 64

// forwardIdleTimeout is shorter than the nodes' own 2 min idle timeout, so
// the forwarding side closes an idle connection before the owner does and
// never sends a request into a connection being closed.
const forwardIdleTimeout = 60 * time.Second

type targetKey struct{}

// newForwardProxy builds the reverse proxy a Guard forwards with. The target
// travels in the request's context: it was looked up for this request.
func newForwardProxy(g *guard) *httputil.ReverseProxy {
	cfg := g.cfg
	tr := &http.Transport{
		// Proxy stays nil: an HTTP_PROXY in the environment must not reroute
		// traffic between nodes.
		DialContext:         (&net.Dialer{Timeout: forwardDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: forwardDialTimeout,
		MaxIdleConnsPerHost: forwardIdleConns,
		IdleConnTimeout:     forwardIdleTimeout,
		// The owner holds a GET until it has a packet; the client's ping
		// makes one every PingInterval, and a session whose pings stop ends
		// PingTimeout later, which answers the GET too.
		ResponseHeaderTimeout: cfg.PingInterval + cfg.PingTimeout,
		DisableCompression:    true,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
			// The owner checks Origin against the host the browser asked for.
			pr.Out.Host = pr.In.Host
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
			// The scheme the browser used, as the balancer in front said
			// (this hop is plain HTTP): the owner's same-origin check needs it.
			if proto := pr.In.Header["X-Forwarded-Proto"]; len(proto) > 0 {
				pr.Out.Header["X-Forwarded-Proto"] = proto
			}
			pr.Out.Header.Set(ForwardedHeader, cfg.NodeID)
		},
		Transport: tr,
		ModifyResponse: func(*http.Response) error {
			g.forwarded(ForwardOK)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.cors(w.Header(), r)
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				g.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large", "body too large")
			case r.Context().Err() != nil:
				// The client went away; nobody reads an answer.
			default:
				g.forwarded(ForwardUnreachable)
				g.log.Log(rejectLevel("forward"), ForwardUnreachable, "session owner unreachable", slog.String("err", withoutURL(err)))
				http.Error(w, "session owner unreachable", http.StatusBadGateway)
			}
		},
		// Copy errors after the answer started (a client leaving mid-body)
		// are ordinary on a busy node and would bypass the rate-limited log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// forward sends a polling request for node's session to that node. A client
// gets 400 when the owner is unknown and 502 when it does not answer: either
// way its transport fails and socket.io reconnects, to any node.
func (g *guard) forward(w http.ResponseWriter, r *http.Request, node string) {
	if r.URL.Query().Get("transport") == "websocket" {
		// An upgrade would pin a websocket to this node for its whole life,
		// through a proxy that drain and CloseAll know nothing of. Refused,
		// the client simply stays on long-polling.
		g.refuse(w, r, http.StatusBadRequest, "wrong node", "session lives on another node")
		return
	}
	if len(r.Header.Values(ForwardedHeader)) > 0 || g.cfg.Peer == nil {
		g.forwarded(ForwardUnknownNode)
		http.Error(w, "unknown session", http.StatusBadRequest)
		return
	}
	base, err := g.cfg.Peer(r.Context(), node)
	var target *url.URL
	if err == nil {
		target, err = url.Parse(base)
	}
	switch {
	case errors.Is(err, ErrUnknownPeer):
		g.forwarded(ForwardUnknownNode)
		http.Error(w, "unknown session", http.StatusBadRequest)
		return
	case err != nil:
		g.forwarded(ForwardLookup)
		g.log.Log(rejectLevel("forward"), ForwardLookup, "session owner lookup failed", slog.String("err", err.Error()))
		http.Error(w, "session owner lookup failed", http.StatusServiceUnavailable)
		return
	}
	// The owner answers CORS itself; two Access-Control-Allow-Origin
	// headers would make the browser refuse the answer.
	h := w.Header()
	for _, k := range corsHeaders {
		h.Del(k)
	}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
}

// withoutURL is err's text without the URL that net/http wraps around it:
// the query carries the session id.
func withoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func (g *guard) forwarded(result string) {
	if g.cfg.OnForward != nil {
		g.cfg.OnForward(result)
	}
}
