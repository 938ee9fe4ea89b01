package notifier

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushpoll/pushpoll/internal/clientip"
	"github.com/pushpoll/pushpoll/internal/redisx"
	"github.com/pushpoll/pushpoll/internal/socketio"
)

// Config is every setting of a node. cmd/notifier fills it from flags and
// their environment twins (DESIGN §7); Default holds the defaults.
type Config struct {
	Listen string
	// AdminListen moves /metrics, the admin API and (with Pprof) the
	// profiler off the public listener to this address; empty keeps them
	// on Listen.
	AdminListen string
	Pprof       bool // /debug/pprof/ on AdminListen
	// AdvertiseURL is where the other nodes reach this one to forward
	// polling requests for its sessions; empty derives it from the
	// listener (see defaultAdvertiseURL).
	AdvertiseURL string
	RedisURL     string // empty: in-process broker, single node
	// RedisURLFile holds RedisURL instead; RedisPasswordFile the password
	// (it overrides the URL's). Both are read again within SecretPoll of a
	// change: new credentials reach every connection dialled after it
	// (redis_secrets.go).
	RedisURLFile, RedisPasswordFile string
	// VersionTTL expires version keys this long after their last raise; 0
	// keeps them for ever. A subscriber of a topic without a key is then
	// told to poll (unknown), since the key may have expired.
	VersionTTL time.Duration
	// RedisTLS configures rediss:// connections beyond the system roots.
	RedisTLS RedisTLS
	// SentinelPasswordFile holds the sentinels' own password, read again
	// within SecretPoll of a change.
	SentinelPasswordFile string
	// What New resolved from the above (redis_secrets.go, redis_tls.go).
	redisURL                  redisx.URL
	redisCreds, sentinelCreds *redisx.Credentials
	redisTLS                  *tls.Config
	ChannelPrefix             string
	TokenSecret               string
	// TokenSecretFile holds more HS256 secrets, one per line, all accepted
	// and read again on ReloadKeys: how secrets rotate.
	TokenSecretFile string
	TokenPublicKey  []byte // PEM contents, one or more blocks
	// TokenPublicKeyFile is a PEM file of one or more public keys, read at
	// start and again on ReloadKeys; it replaces TokenPublicKey.
	TokenPublicKeyFile string
	AuthCallbackURL    string
	// CallbackTTL is how long a callback answer without a ttl holds (its
	// grant then expires like a token's); CallbackMaxTTL caps every answer.
	CallbackTTL, CallbackMaxTTL time.Duration
	TokenAudience               string
	PublishSecret               string // empty: HTTP publish off
	AdminSecret                 string // empty: admin API off
	// PublishSecretFile and AdminSecretFile hold those secrets instead,
	// read again within SecretPoll of a change (secretfile.go).
	PublishSecretFile, AdminSecretFile string
	// SecretPoll is how often secret and key files are read again; 0 is
	// defaultSecretPoll. Tests shorten it.
	SecretPoll     time.Duration
	AllowedOrigins []string
	Mode           string // push, shadow or poll
	FastInterval   time.Duration
	SlowInterval   time.Duration
	DrainTimeout   time.Duration
	// HintThrottle is the per-topic fan-out window (throttle.go); 0 sends
	// every bump at once.
	HintThrottle time.Duration
	// SpreadFactor scales the window over which the holders of a widely
	// held topic draw their polls after a hint (spread.go); 1 keeps them
	// at plain polling's rate, 0 sends no spread.
	SpreadFactor float64

	// Limits against hostile or broken clients (DESIGN §7, hardening).
	MaxTopicsPerSocket int           // topics one socket may hold
	MaxTopics          int           // distinct topics held on this node; 0 for no limit
	MaxPrefixTopics    int           // distinct topics one credential holds by prefix grants on this node; 0 for no limit
	MaxFrameBytes      int           // one incoming socket.io frame
	MaxSockets         int           // per node; beyond it handshakes get 503
	MaxPublishBytes    int64         // one POST /v1/publish body
	MaxHTTPConns       int           // HTTP connections that are not websockets; 0: half the open-file limit, -1: none
	BodyTimeout        time.Duration // time a request has to deliver its whole body
	SubscribeBurst     int           // subscribes a socket may send at once...
	SubscribeEvery     time.Duration // ...refilled one per this interval
	WriteTimeout       time.Duration // a socket that cannot take a frame in this time is dropped
	// Writers is how many goroutines write to sockets (writer.go); 0 or
	// less means one per core, which is what a fan-out can use. Tests set 1.
	Writers      int
	PingInterval time.Duration // Engine.IO heartbeat told to clients
	PingTimeout  time.Duration
	// ResyncSpread spreads the hints sent after a broker outage, so clients
	// of a big topic do not all poll in the same instant.
	ResyncSpread time.Duration

	// Flood bounds (budget.go, clients.go). MaxSockets above is per node;
	// 0 there derives it from the open-file and memory limits, -1 is none.
	// MaxSocketsPerClient bounds the sockets of one client address (see
	// TrustedProxies); 0: a tenth of the node's sockets, at least 100; -1:
	// none.
	MaxSocketsPerClient int
	// TrustedProxies are the CIDRs of the load balancers whose
	// X-Forwarded-For names the client (internal/clientip); empty trusts
	// none, so the peer address is the client.
	TrustedProxies []string
	// SubscribeTimeout closes a socket that holds no granted topic this
	// long after it connected: it can receive nothing but holds a
	// descriptor and memory.
	SubscribeTimeout time.Duration
	// NodeSecret (or the lines of NodeSecretFile: the first signs, all
	// verify, so it rotates) is shared by the nodes of one deployment: they
	// sign the polling requests they forward to each other and the answers
	// (internal/socketio, forward.go). Empty: forwarding is not
	// authenticated.
	NodeSecret, NodeSecretFile string
	// CallbackSessionCookie names the cookie that identifies the user
	// when a callback answer has no sub: what a callback credential's
	// bounds are keyed on (authbridge Decision.Credential).
	CallbackSessionCookie string
	// MaxTokenTTL refuses tokens whose exp lies further ahead (authbridge).
	MaxTokenTTL time.Duration

	Logger *slog.Logger
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		Listen:        ":8080",
		ChannelPrefix: "pushpoll:",
		TokenAudience: "pushpoll",
		Mode:          "push",
		FastInterval:  5 * time.Second,
		SlowInterval:  60 * time.Second,
		DrainTimeout:  30 * time.Second,
		// As long as a typical token: revoking access in the app reaches
		// open sockets within minutes, and no callback grant is for ever.
		CallbackTTL:    5 * time.Minute,
		CallbackMaxTTL: time.Hour,
		// A second is far below any page's fast interval, so a busy topic
		// still reaches its holders well before fallback polling would, and
		// it caps a topic bumped without end at one fan-out a second.
		HintThrottle:       time.Second,
		SpreadFactor:       DefaultSpreadFactor,
		MaxTopicsPerSocket: 1000,
		// Each distinct topic costs a Redis channel and a few hundred bytes
		// here. 100,000 is five times the topics of the largest benchmark
		// node; one prefix grant may invent as many topics as one socket
		// may hold, however many sockets share the credential.
		MaxTopics:       100000,
		MaxPrefixTopics: 1000,
		// 16 KiB fits a subscribe for hundreds of topics with a token; a
		// client with more subscribes in several frames.
		MaxFrameBytes:   16 << 10,
		MaxSockets:      0,
		MaxPublishBytes: 1 << 20,
		// The largest body (a 1 MiB publish) takes well under a second on
		// any link a server talks to; a polling POST is a few KiB. 10s is
		// generous for both and keeps a trickled body from holding a
		// connection.
		BodyTimeout: 10 * time.Second,
		// A page subscribes once per (re)connect and again when its token
		// is refreshed; 20 at once and one a second is far above that.
		SubscribeBurst: 20,
		SubscribeEvery: time.Second,
		WriteTimeout:   10 * time.Second,
		// socket.io 2 clients ping every PingInterval; the node drops a
		// client whose next ping is PingTimeout late. 25s keeps idle sockets
		// below common proxy idle timeouts; 60s of grace keeps a node that
		// is saturated by a fan-out (its reads of pings run late) from
		// dropping tens of thousands of healthy sockets at once, which the
		// benchmark showed at 10s/20s. A killed node is still noticed at
		// once (its TCP connections close), and the shim's own watchdog
		// treats 35s of silence as push unhealthy.
		PingInterval: 25 * time.Second,
		PingTimeout:  60 * time.Second,
		ResyncSpread: 2 * time.Second,
		// The shim subscribes as soon as it connects; a minute covers a slow
		// token fetch or a callback retry, and bounds a flood of bare
		// sockets to what it can open in a minute.
		SubscribeTimeout: time.Minute,
		// The shim fetches a token on every reconnect; a day is far above
		// any sensible lifetime and still ends a leaked token's use.
		MaxTokenTTL: 24 * time.Hour,
	}
}

var errNoVerifier = errors.New("no way to verify subscribers: set --token-secret, --token-public-key or --auth-callback-url (or --dev for a local trial)")

// Validate checks the configuration; each message names the flag to fix.
func (c *Config) Validate() error {
	var errs []error
	secrets := c.TokenSecret != "" || c.TokenSecretFile != ""
	publicKeys := len(c.TokenPublicKey) > 0 || c.TokenPublicKeyFile != ""
	if !secrets && !publicKeys && c.AuthCallbackURL == "" {
		errs = append(errs, errNoVerifier)
	}
	if secrets && publicKeys {
		errs = append(errs, errors.New("--token-secret and --token-public-key exclude each other: the algorithm is pinned to one"))
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < 32 {
		errs = append(errs, errors.New("--token-secret must be at least 32 characters"))
	}
	if err := ValidPrefix(c.ChannelPrefix); err != nil {
		errs = append(errs, err)
	}
	if c.RedisURL != "" {
		if _, err := redisx.Parse(c.RedisURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.RedisURL != "" && c.RedisURLFile != "" {
		errs = append(errs, errors.New("--redis-url and --redis-url-file exclude each other"))
	}
	if c.RedisPasswordFile != "" && c.RedisURL == "" && c.RedisURLFile == "" {
		errs = append(errs, errors.New("--redis-password-file needs --redis-url or --redis-url-file"))
	}
	if c.VersionTTL != 0 {
		if c.RedisURL == "" && c.RedisURLFile == "" {
			errs = append(errs, errors.New("--version-ttl needs Redis (--redis-url): the in-process broker keeps no table"))
		}
		if c.VersionTTL < time.Hour || c.VersionTTL > 365*24*time.Hour || c.VersionTTL%time.Second != 0 {
			errs = append(errs, fmt.Errorf("--version-ttl %s is out of range: whole seconds between 1h and 8760h (a year), or 0 for none", c.VersionTTL))
		}
	}
	if c.AdminListen != "" {
		if err := validListenAddr(c.AdminListen); err != nil {
			errs = append(errs, fmt.Errorf("--admin-listen: %w", err))
		} else if c.AdminListen == c.Listen {
			errs = append(errs, errors.New("--admin-listen must differ from --listen: the point is a port the balancer does not reach"))
		}
	}
	if c.Pprof && c.AdminListen == "" {
		errs = append(errs, errors.New("--pprof needs --admin-listen: profiles are never served on the public listener"))
	}
	if c.AdvertiseURL != "" {
		if err := validAdvertiseURL(c.AdvertiseURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AuthCallbackURL != "" {
		if u, err := url.Parse(c.AuthCallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--auth-callback-url must be an http(s) URL"))
		}
	}
	if strings.ContainsAny(c.CallbackSessionCookie, "=; \t\r\n,\"") {
		errs = append(errs, fmt.Errorf("--auth-callback-session-cookie %q is not a cookie name", c.CallbackSessionCookie))
	}
	if c.CallbackTTL <= 0 || c.CallbackMaxTTL < c.CallbackTTL {
		errs = append(errs, errors.New("--auth-callback-ttl must be positive and --auth-callback-max-ttl at least as long"))
	}
	if _, err := ParseMode(c.Mode); err != nil {
		errs = append(errs, fmt.Errorf("--%w", err))
	}
	for _, b := range c.durationBounds() {
		if b.d < b.min || b.d > b.max {
			errs = append(errs, fmt.Errorf("--%s %s is out of range: it must be between %s and %s", b.flag, short(b.d), short(b.min), short(b.max)))
		}
	}
	if c.SlowInterval < c.FastInterval {
		errs = append(errs, fmt.Errorf("--slow-interval %s must be at least --fast-interval %s", short(c.SlowInterval), short(c.FastInterval)))
	}
	if c.HintThrottle > c.FastInterval {
		errs = append(errs, fmt.Errorf("--hint-throttle %s must not exceed --fast-interval %s: push would lag behind fallback polling", short(c.HintThrottle), short(c.FastInterval)))
	}
	if !(c.SpreadFactor >= 0 && c.SpreadFactor <= MaxSpreadFactor) {
		errs = append(errs, fmt.Errorf("--spread-factor %v is out of range: it must be between 0 and %v (1 keeps hint-driven polls at plain polling's rate)", c.SpreadFactor, MaxSpreadFactor))
	}
	if c.PingTimeout <= c.PingInterval {
		errs = append(errs, errors.New("--ping-timeout must exceed --ping-interval"))
	}
	if c.MaxTopicsPerSocket < 1 || c.MaxFrameBytes < 256 || c.MaxPublishBytes < 1024 || c.SubscribeBurst < 1 {
		errs = append(errs, errors.New("--max-topics-per-socket, --max-frame-bytes (≥256), --max-publish-bytes (≥1024) and --subscribe-burst must be positive"))
	}
	if c.MaxSockets < -1 || c.MaxSocketsPerClient < -1 {
		errs = append(errs, errors.New("--max-sockets and --max-sockets-per-client must be at least -1 (0: derived from the host's limits, -1: no limit)"))
	}
	if _, err := clientip.ParseTrusted(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	if c.MaxHTTPConns < -1 {
		errs = append(errs, errors.New("--max-http-conns must be at least -1 (0: half the open-file limit, -1: no limit)"))
	}
	if c.MaxTopics < 0 || c.MaxPrefixTopics < 0 {
		errs = append(errs, errors.New("--max-topics and --max-prefix-topics must not be negative (0 for no limit)"))
	}
	if c.NodeSecret != "" && len(c.NodeSecret) < 32 {
		errs = append(errs, errors.New("--node-secret must be at least 32 characters"))
	}
	if c.NodeSecret != "" && c.NodeSecretFile != "" {
		errs = append(errs, errors.New("--node-secret and --node-secret-file exclude each other"))
	}
	if c.PublishSecret != "" && c.PublishSecretFile != "" {
		errs = append(errs, errors.New("--publish-secret and --publish-secret-file exclude each other"))
	}
	if c.AdminSecret != "" && c.AdminSecretFile != "" {
		errs = append(errs, errors.New("--admin-secret and --admin-secret-file exclude each other"))
	}
	if c.PublishSecret != "" && len(c.PublishSecret) < 16 {
		errs = append(errs, errors.New("--publish-secret must be at least 16 characters"))
	}
	if c.AdminSecret != "" && len(c.AdminSecret) < 16 {
		errs = append(errs, errors.New("--admin-secret must be at least 16 characters"))
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if err := socketio.CheckOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("--allowed-origins: %w", err))
		}
	}
	return errors.Join(errs...)
}

// validListenAddr accepts what net.Listen("tcp", …) does for a server:
// [host]:port with a port number from 0 to 65535.
func validListenAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err == nil && strings.ContainsAny(host, "/ ") {
		err = errors.New("bad host")
	}
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not an address like 127.0.0.1:9090 or :9090 (%v)", a, err)
	}
	return nil
}

type durationBound struct {
	flag     string
	d        time.Duration
	min, max time.Duration
}

// durationBounds is the sane range of every duration setting. Outside it a
// node harms the app it is there to protect, or quietly stops protecting it:
// pages told to poll every millisecond storm the app, a slow interval of
// 900h overflows a browser's setTimeout (2^31-1 ms) so that it fires at
// once, a fast interval of an hour turns the fallback off, and a heartbeat
// of minutes leaves dead sockets counted as live.
func (c *Config) durationBounds() []durationBound {
	return []durationBound{
		// The app's own polling rarely runs faster than a second or slower
		// than a few minutes; fallback polling stands in for it.
		{"fast-interval", c.FastInterval, time.Second, 5 * time.Minute},
		// The safety net is how long a lost hint may leave a page stale.
		{"slow-interval", c.SlowInterval, time.Second, time.Hour},
		{"hint-throttle", c.HintThrottle, 0, time.Minute},
		// A callback grant lives at least a second (not a call per
		// subscribe) and at most a day (revocation must arrive some day).
		{"auth-callback-ttl", c.CallbackTTL, time.Second, 24 * time.Hour},
		{"auth-callback-max-ttl", c.CallbackMaxTTL, time.Second, 24 * time.Hour},
		// Orchestrators give a stopping container seconds to minutes.
		{"drain-timeout", c.DrainTimeout, 0, 10 * time.Minute},
		// An hour means the burst alone, with no refill worth the name.
		{"subscribe-every", c.SubscribeEvery, 10 * time.Millisecond, time.Hour},
		{"write-timeout", c.WriteTimeout, 100 * time.Millisecond, 5 * time.Minute},
		// A body that takes minutes is a client holding a connection.
		{"body-timeout", c.BodyTimeout, 100 * time.Millisecond, 5 * time.Minute},
		// Long enough for a token fetch and a retry; an hour keeps a bare
		// socket as long as any proxy would.
		{"subscribe-timeout", c.SubscribeTimeout, time.Second, time.Hour},
		// A minute is below any token an app would mint; thirty days is as
		// far as "bounded" can stretch.
		{"max-token-ttl", c.MaxTokenTTL, time.Minute, 30 * 24 * time.Hour},
		{"ping-interval", c.PingInterval, time.Second, 5 * time.Minute},
		{"ping-timeout", c.PingTimeout, 2 * time.Second, 10 * time.Minute},
	}
}

// short prints a duration without trailing zero units: 1h, 5m, 1m30s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// SplitList parses a comma list flag, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
