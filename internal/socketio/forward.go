package socketio

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
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
//
// A forwarded request carries no Cookie and no Authorization: the owner
// reads those at the handshake only, which is never forwarded, so they
// would only reach whatever address Redis holds. With Config.NodeSecrets,
// nodes also prove to each other that they hold the shared node secret: the
// forwarder signs the request (NodeAuthHeader: a timestamp and an HMAC of
// it, the method, the path and query, and the forwarding node), the owner
// refuses an unsigned or stale one with 403 and signs its answer over the
// request's proof, and the forwarder passes on only an answer so signed
// (502 otherwise). This authenticates the nodes, it does not hide the
// traffic: across a network you do not trust, advertise https URLs.

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

// NodeAuthHeader carries a node's proof that it holds the node secret, on
// a forwarded request and on the owner's answer.
const NodeAuthHeader = "X-Pushpoll-Node-Auth"

// nodeAuthSkew is how far a forwarded request's timestamp may be from the
// owner's clock: nodes run NTP, and a request takes milliseconds; a
// captured request replays for at most this long.
const nodeAuthSkew = 30 * time.Second

// Forward outcomes reported to Config.OnForward.
const (
	ForwardOK          = "ok"           // the owner answered (any status)
	ForwardUnknownNode = "unknown node" // no node advertises the id: 400
	ForwardLookup      = "lookup failed"
	ForwardUnreachable = "unreachable" // advertised, but did not answer: 502
	// ForwardUnauthenticated: what answered did not prove it holds the
	// node secret (not a node of ours, or another secret): 502.
	ForwardUnauthenticated = "unauthenticated"
)

// errUnsignedAnswer is an owner's answer without a valid NodeAuthHeader.
var errUnsignedAnswer = errors.New("socketio: the answer is not signed with the node secret")

// nodeMAC is the HMAC-SHA256 under secret of parts, each length-prefixed so
// that no two lists of parts sign alike.
func nodeMAC(secret []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, secret)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// signForward is the NodeAuthHeader of a request forwarded by node from.
func signForward(secret []byte, method, uri, from string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + "." + hex.EncodeToString(nodeMAC(secret, "request", ts, method, uri, from))
}

// checkForward reports whether proof signs r under one of secrets and is
// fresh at now.
func checkForward(secrets [][]byte, r *http.Request, proof string, now time.Time) bool {
	ts, mac, ok := strings.Cut(proof, ".")
	sec, err := strconv.ParseInt(ts, 10, 64)
	got, herr := hex.DecodeString(mac)
	if !ok || err != nil || herr != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > nodeAuthSkew || d < -nodeAuthSkew {
		return false
	}
	for _, s := range secrets {
		if hmac.Equal(got, nodeMAC(s, "request", ts, r.Method, r.URL.RequestURI(), r.Header.Get(ForwardedHeader))) {
			return true
		}
	}
	return false
}

// answerProof is the owner's NodeAuthHeader on its answer to a request
// that carried proof.
func answerProof(secret []byte, proof string) string {
	return hex.EncodeToString(nodeMAC(secret, "answer", proof))
}

// checkAnswer reports whether an answer's proof matches the request's
// under one of secrets.
func checkAnswer(secrets [][]byte, reqProof, proof string) bool {
	got, err := hex.DecodeString(proof)
	if err != nil {
		return false
	}
	for _, s := range secrets {
		if hmac.Equal(got, nodeMAC(s, "answer", reqProof)) {
			return true
		}
	}
	return false
}

// authenticForward checks, on the owner, a request another node forwarded:
// with node secrets set it must be signed and fresh, and its answer gets
// signed in turn. It answers 403 itself and returns false otherwise.
// Requests that say nothing of forwarding pass: they are checked as what
// they are, a client's.
func (g *guard) authenticForward(w http.ResponseWriter, r *http.Request) bool {
	if len(g.cfg.NodeSecrets) == 0 || len(r.Header.Values(ForwardedHeader)) == 0 {
		return true
	}
	proof := r.Header.Get(NodeAuthHeader)
	if !checkForward(g.cfg.NodeSecrets, r, proof, time.Now()) {
		g.refuse(w, r, http.StatusForbidden, "forward auth", "forwarded request not signed with the node secret")
		return false
	}
	w.Header().Set(NodeAuthHeader, answerProof(g.cfg.NodeSecrets[0], proof))
	return true
}

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
			// The owner needs neither (see the top of this file).
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del(NodeAuthHeader)
			if len(cfg.NodeSecrets) > 0 {
				pr.Out.Header.Set(NodeAuthHeader, signForward(cfg.NodeSecrets[0], pr.Out.Method, pr.Out.URL.RequestURI(), cfg.NodeID, time.Now()))
			}
		},
		Transport: tr,
		ModifyResponse: func(resp *http.Response) error {
			if len(cfg.NodeSecrets) > 0 && !checkAnswer(cfg.NodeSecrets, resp.Request.Header.Get(NodeAuthHeader), resp.Header.Get(NodeAuthHeader)) {
				return errUnsignedAnswer
			}
			// A session's polls set no cookie; whatever answered must not
			// set one on the app's origin.
			resp.Header.Del("Set-Cookie")
			resp.Header.Del(NodeAuthHeader)
			g.forwarded(ForwardOK)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.cors(w.Header(), r)
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				g.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large", "body too large")
			case errors.Is(err, errUnsignedAnswer):
				g.forwarded(ForwardUnauthenticated)
				g.log.Log(rejectLevel("forward"), ForwardUnauthenticated, "session owner's answer not signed with the node secret")
				http.Error(w, "session owner unreachable", http.StatusBadGateway)
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
