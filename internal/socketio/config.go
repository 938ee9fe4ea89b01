package socketio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"
)

// Config is everything the wire needs from the notifier. The zero value is
// usable: zero sizes and durations take the defaults below.
type Config struct {
	// AllowedOrigins lists the browser origins that may connect, like
	// "https://app.example.com". Empty means same origin only (the Origin's
	// host equals the request's Host); "*" means any. Requests without an
	// Origin header (non-browser clients) always pass.
	AllowedOrigins []string

	// MaxFrameBytes caps one incoming websocket message or polling packet.
	MaxFrameBytes int
	// MaxPollBody caps one polling POST body.
	MaxPollBody int64
	// WriteTimeout bounds how long one websocket frame may take to write. A
	// socket that cannot take a frame in time is closed and counted slow.
	WriteTimeout time.Duration

	// PingInterval is how often clients ping; PingTimeout is how long the
	// server waits for the next ping before it gives the session up, so it
	// must exceed PingInterval (the read deadline resets on each ping).
	PingInterval, PingTimeout time.Duration

	// ConnectTimeout is how long a socket.io 3/4 client (Engine.IO 4) may
	// go without a connection to the root namespace, after the handshake or
	// after it left, before its session is closed.
	ConnectTimeout time.Duration

	// FirstPollTimeout is how long a long-polling session may go after its
	// handshake without a request (its first poll) before it is closed.
	// Until that request it does not count against MaxSockets, so bare
	// handshakes cannot fill a node.
	FirstPollTimeout time.Duration

	// MaxSockets refuses new handshakes with 503 once Sockets() reaches it,
	// so a load balancer tries another node. 0 means unlimited.
	MaxSockets int
	// Sockets returns the current socket count; required with MaxSockets.
	Sockets func() int
	// Draining, when it returns true, refuses new handshakes (no sid) with
	// 503 "draining"; existing sessions keep working.
	Draining func() bool

	// Headers names the handshake request headers a connection keeps for
	// Conn.Header, like "Cookie"; nil keeps them all. A server that reads a
	// few need not hold the rest of every user's request (user agent,
	// languages, other cookies' neighbours) for as long as the socket lives.
	Headers []string

	// NodeID names this node inside every session id it issues (see
	// NewNodeID). Empty takes one random id per process, which does for a
	// single server per process.
	NodeID string
	// Peer returns the base URL ("http://10.0.0.7:8080") advertised by the
	// node with the given id, or an error wrapping ErrUnknownPeer when no
	// node advertises it. A polling request for another node's session is
	// forwarded there, once (forward.go). Nil means a single node: such
	// requests are answered 400 as unknown sessions. It is called from many
	// goroutines at once.
	Peer func(ctx context.Context, node string) (string, error)
	// NodeSecrets, when set, make nodes sign the requests they forward and
	// the answers to them (forward.go): the first signs, any verifies, so
	// the secret rotates like token secrets. Empty: forwarding is not
	// authenticated.
	NodeSecrets [][]byte
	// OnForward is called once per polling request for another node's
	// session, with its outcome (the Forward* constants). It is called from
	// many goroutines at once.
	OnForward func(result string)

	// OnReject is called once per refused request or connection with one of
	// "origin", "jsonp", "unsupported protocol" (an EIO other than 3 and
	// 4), "bad transport", "bad packet" (a packet the protocol does not
	// allow there, on either version), "binary packet", "frame too large",
	// "body too large", "duplicate poll" (two EIO 4 GETs at once),
	// "draining", "full", "wrong node" (an upgrade for another node's
	// session), "forward auth" (a forwarded request not signed with
	// NodeSecrets), "second upgrade", "abandoned" (no first poll within
	// FirstPollTimeout). It is called from many goroutines at once.
	OnReject func(reason string)
	// OnSlow is called when a websocket write misses its deadline (the
	// socket is then closed). It is called from many goroutines at once.
	OnSlow func()

	// Logger receives rate-limited logs of refusals, tagged with the
	// component "wire" (so it should not carry a component of its own). It
	// never gets URLs (they may carry tokens), cookies or auth headers.
	Logger *slog.Logger
}

// Defaults, in one place.
const (
	// A subscribe frame carries a JWT of a few KiB and a few hundred topics
	// of typical length; 16 KiB holds that with room to spare, and nothing
	// else a client sends comes close (pings are a few bytes).
	defaultMaxFrameBytes = 16 << 10
	// A polling POST may batch the packets queued while the previous POST
	// was in flight (a subscribe plus pings), so it gets four frames' worth.
	defaultMaxPollBody = 64 << 10
	// A hint is a few hundred bytes: a healthy client, even on a poor mobile
	// link, takes it within seconds. Beyond 10s the client is better served
	// by reconnecting (and polling meanwhile) than by holding up its writer.
	defaultWriteTimeout = 10 * time.Second
	// Clients ping every 10s, well under the 30–60s idle timeouts of common
	// proxies and load balancers, so an idle socket is never cut by them; a
	// dead peer is noticed within PingTimeout of its last ping.
	defaultPingInterval = 10 * time.Second
	// Twice the interval: one late or lost ping does not end a session.
	defaultPingTimeout = 20 * time.Second
	// A client sends its first poll as soon as the handshake answer arrives;
	// 10s covers a client on a slow link on a loaded node, and bounds what a
	// flood of bare handshakes can keep open to 10s of it.
	defaultFirstPollTimeout = 10 * time.Second
	// A socket.io 4 client sends its CONNECT right after the handshake; the
	// same 10s as the first poll, for the same reasons.
	defaultConnectTimeout = 10 * time.Second
)

// ErrConfig is wrapped by every error from Config.Validate.
var ErrConfig = errors.New("socketio: invalid config")

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = defaultMaxFrameBytes
	}
	if c.MaxPollBody == 0 {
		c.MaxPollBody = defaultMaxPollBody
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = defaultPingTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.FirstPollTimeout == 0 {
		c.FirstPollTimeout = defaultFirstPollTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NodeID == "" {
		c.NodeID = processNodeID()
	}
	return c
}

// Validate reports the first setting that cannot work, naming the field.
// Zero values are valid: they take the defaults.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.MaxFrameBytes < 0:
		return fmt.Errorf("%w: MaxFrameBytes must not be negative", ErrConfig)
	case d.MaxPollBody < int64(d.MaxFrameBytes):
		return fmt.Errorf("%w: MaxPollBody (%d) must hold one frame of MaxFrameBytes (%d)", ErrConfig, d.MaxPollBody, d.MaxFrameBytes)
	case d.WriteTimeout < 0:
		return fmt.Errorf("%w: WriteTimeout must not be negative", ErrConfig)
	case d.PingInterval < 0:
		return fmt.Errorf("%w: PingInterval must not be negative", ErrConfig)
	case d.PingTimeout <= d.PingInterval:
		return fmt.Errorf("%w: PingTimeout (%s) must exceed PingInterval (%s)", ErrConfig, d.PingTimeout, d.PingInterval)
	case d.ConnectTimeout < 0:
		return fmt.Errorf("%w: ConnectTimeout must not be negative", ErrConfig)
	case d.MaxSockets < 0:
		return fmt.Errorf("%w: MaxSockets must not be negative", ErrConfig)
	case !ValidNodeID(d.NodeID):
		return fmt.Errorf("%w: NodeID must be %d URL-safe base64 characters, like NewNodeID returns", ErrConfig, NodeIDLen)
	case d.MaxSockets > 0 && d.Sockets == nil:
		return fmt.Errorf("%w: MaxSockets needs Sockets to count with", ErrConfig)
	}
	if _, err := parseOrigins(d.AllowedOrigins); err != nil {
		return fmt.Errorf("%w: AllowedOrigins: %w", ErrConfig, err)
	}
	return nil
}

// engineOptions returns the options for go-socket.io's server: our polling
// wrapper first (so it is the handshake transport and lists websocket as its
// upgrade), our websocket transport second, random session ids, and the ping
// settings. Call it once per server and keep the result for closeAll.
//
// It assumes c passed Validate; an origin that does not parse never matches.
func (c Config) engineOptions() *engineio.Options {
	set := newTransportSet(c.withDefaults())
	return &engineio.Options{
		PingInterval: set.cfg.PingInterval,
		PingTimeout:  set.cfg.PingTimeout,
		Transports: []transport.Transport{
			// The inner transport gets no CheckOrigin: the Guard answers CORS,
			// and the library would otherwise add its own headers.
			&pollingTransport{set: set, inner: &polling.Transport{}},
			newWebsocketTransport(set),
		},
		SessionIDGenerator: sidGenerator{node: set.cfg.NodeID},
		// A backstop for a server mounted without the Guard: the library
		// answers a checker error with 502, which is the wrong status but
		// still creates no session and reflects nothing.
		RequestChecker: set.checkRequest,
	}
}

// closeAll is Server.CloseAll for the transports in opts (the result of
// engineOptions).
func closeAll(opts *engineio.Options) int {
	if opts == nil {
		return 0
	}
	n := 0
	seen := map[*transportSet]bool{}
	for _, t := range opts.Transports {
		owner, ok := t.(interface{ owner() *transportSet })
		if !ok {
			continue
		}
		set := owner.owner()
		if seen[set] {
			continue
		}
		seen[set] = true
		n += set.closeAll()
	}
	return n
}
