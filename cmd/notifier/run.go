package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pushpoll/pushpoll/internal/demo"
	"github.com/pushpoll/pushpoll/internal/version"
	"github.com/pushpoll/pushpoll/notifier"
)

// run is the whole program; main only wires signals. Tests call it. What
// the user asked to read (--help, --version) goes to stdout, so that it can
// be piped; logs and errors go to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], getenv, stderr)
	}
	cfg, opts, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Fprintln(stdout, version.Get())
		return nil
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(opts.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	if opts.dev || opts.demo {
		if err := devDefaults(&cfg, stderr); err != nil {
			return err
		}
	}
	srv, err := notifier.New(cfg)
	if err != nil {
		return err
	}
	if opts.demo {
		demo.New(demo.Config{
			TokenSecret: cfg.TokenSecret,
			Audience:    cfg.TokenAudience,
			Publish:     srv.Publish,
			Fast:        cfg.FastInterval,
			Slow:        cfg.SlowInterval,
			Logger:      cfg.Logger,
		}).Routes(srv.Router())
	}
	// SIGHUP reloads the token keys (README, Security: rotating keys).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = srv.ReloadKeys() // logged and counted
			case <-ctx.Done():
				return
			}
		}
	}()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	switch {
	case opts.demo:
		fmt.Fprintf(stderr, "pushpoll demo: open http://%s/ in two browser windows and bump a card\n", displayAddr(ln.Addr()))
	case opts.dev:
		fmt.Fprintf(stderr, "pushpoll notifier (dev) on http://%s\n", displayAddr(ln.Addr()))
	}
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("--admin-listen %s: %w", cfg.AdminListen, err)
		}
	}
	return srv.ServeAdmin(ctx, ln, adminLn)
}

// devListen is where --dev and --demo listen when --listen is not given.
const devListen = "127.0.0.1:8080"

type cmdOptions struct {
	version  bool
	dev      bool
	demo     bool
	logLevel string
}

// setting is one flag with its environment twin (DESIGN §7).
type setting struct {
	flag, env, help string
}

// parseConfig reads flags, then fills every flag not given on the command
// line from its environment twin. --help writes the usage to help and
// returns flag.ErrHelp; any other mistake is only returned, for the caller
// to print once.
func parseConfig(args []string, getenv func(string) string, help io.Writer) (notifier.Config, cmdOptions, error) {
	cfg := notifier.Default()
	var opts cmdOptions
	fs := flag.NewFlagSet("notifier", flag.ContinueOnError)
	fs.SetOutput(io.Discard)

	var origins string
	// Behind a balancer every socket comes from the balancer's address, and
	// --max-sockets-per-client would count them all as one client: by default
	// the balancers of the operator's own network are believed.
	proxies := "private"
	var settings []setting
	str := func(p *string, name, env, help string) {
		fs.StringVar(p, name, *p, help)
		settings = append(settings, setting{name, env, help})
	}
	dur := func(p *time.Duration, name, env, help string) {
		fs.Var(durationFlag{p}, name, help)
		settings = append(settings, setting{name, env, help})
	}
	num := func(p *int, name, env, help string) {
		fs.IntVar(p, name, *p, help)
		settings = append(settings, setting{name, env, help})
	}
	real := func(p *float64, name, env, help string) {
		fs.Float64Var(p, name, *p, help)
		settings = append(settings, setting{name, env, help})
	}
	boolean := func(p *bool, name, env, help string) {
		fs.BoolVar(p, name, *p, help)
		settings = append(settings, setting{name, env, help})
	}
	maxPublish := int(cfg.MaxPublishBytes)

	str(&cfg.Listen, "listen", "PUSHPOLL_LISTEN", "HTTP address: socket.io, publish API, /pushpoll.js, health, and metrics and the admin API unless --admin-listen is set")
	str(&cfg.AdminListen, "admin-listen", "PUSHPOLL_ADMIN_LISTEN", "[host]:port for /metrics, /v1/admin/… and --pprof, which then answer 404 on --listen; /healthz and /readyz answer on both; must differ from --listen")
	boolean(&cfg.Pprof, "pprof", "PUSHPOLL_PPROF", "serve Go's profiler at /debug/pprof/ on --admin-listen (required); off by default")
	str(&cfg.AdvertiseURL, "advertise-url", "PUSHPOLL_ADVERTISE_URL", "base URL where the other nodes reach this one to forward polling requests for its sessions; default http://<listen host, or this host's first interface address>:<port>")
	str(&cfg.RedisURL, "redis-url", "PUSHPOLL_REDIS_URL", "redis[s]://[[user]:password@]host:port[/db], redis[s]-sentinel://[[user]:password@]host:port[,host:port…]/<master-name>[/<db>] or redis[s]-cluster://[[user]:password@]host:port[,host:port…]; empty runs the in-process broker (single node)")
	str(&cfg.NodeSecret, "node-secret", "PUSHPOLL_NODE_SECRET", "secret shared by the nodes (at least 32 characters): they sign the polling requests they forward to each other, and refuse unsigned ones; empty: forwarding is not authenticated (prefer the environment variable or the file)")
	str(&cfg.NodeSecretFile, "node-secret-file", "PUSHPOLL_NODE_SECRET_FILE", "file of node secrets, one per line: the first signs, all verify (rotation)")
	str(&cfg.RedisURLFile, "redis-url-file", "PUSHPOLL_REDIS_URL_FILE", "file holding --redis-url (excludes it); a changed password or user in it reaches new connections within 10s, other changes need a restart")
	str(&cfg.RedisPasswordFile, "redis-password-file", "PUSHPOLL_REDIS_PASSWORD_FILE", "file holding the Redis password (one line), overriding the URL's; read again within 10s of a change, for new connections")
	str(&cfg.SentinelPasswordFile, "redis-sentinel-password-file", "PUSHPOLL_REDIS_SENTINEL_PASSWORD_FILE", "file holding the sentinels' own password (requirepass in sentinel.conf), with a redis-sentinel:// URL; read again within 10s of a change")
	str(&cfg.RedisTLS.CAFile, "redis-tls-ca-file", "PUSHPOLL_REDIS_TLS_CA_FILE", "PEM file of CA certificates that sign the Redis servers' (rediss:// only); default: the system's roots")
	str(&cfg.RedisTLS.CertFile, "redis-tls-cert-file", "PUSHPOLL_REDIS_TLS_CERT_FILE", "PEM client certificate for Redis servers that require one (tls-auth-clients), with --redis-tls-key-file")
	str(&cfg.RedisTLS.KeyFile, "redis-tls-key-file", "PUSHPOLL_REDIS_TLS_KEY_FILE", "PEM private key of --redis-tls-cert-file")
	str(&cfg.RedisTLS.ServerName, "redis-tls-server-name", "PUSHPOLL_REDIS_TLS_SERVER_NAME", "name the Redis certificate must carry; default: the host in the URL (or the address a sentinel or the cluster gives)")
	boolean(&cfg.RedisTLS.InsecureSkipVerify, "redis-tls-insecure-skip-verify", "PUSHPOLL_REDIS_TLS_INSECURE_SKIP_VERIFY", "DEVELOPMENT ONLY: accept any Redis server certificate (anyone on the path can read and forge hints)")
	dur(&cfg.VersionTTL, "version-ttl", "PUSHPOLL_VERSION_TTL", "expire each topic's version key this long after its last bump (whole seconds, 1h to 8760h; 0 keeps them for ever); a subscriber of a topic without a key is then told to poll once")
	str(&cfg.ChannelPrefix, "channel-prefix", "PUSHPOLL_CHANNEL_PREFIX", "Redis channel and version key = prefix + topic")
	str(&cfg.TokenSecret, "token-secret", "PUSHPOLL_TOKEN_SECRET", "HS256 secret shared with the app (prefer the environment variable)")
	str(&cfg.TokenSecretFile, "token-secret-file", "PUSHPOLL_TOKEN_SECRET_FILE", "file of HS256 secrets, one per line, all accepted; read again on SIGHUP and within 10s of a change (key rotation); a bad file keeps the old keys")
	str(&cfg.TokenPublicKeyFile, "token-public-key", "PUSHPOLL_TOKEN_PUBLIC_KEY", "PEM file with RSA, ECDSA P-256 or Ed25519 public keys (one or more blocks): RS256, ES256 or EdDSA instead of HS256; read again on SIGHUP and within 10s of a change")
	str(&cfg.AuthCallbackURL, "auth-callback-url", "PUSHPOLL_AUTH_CALLBACK_URL", "callback mode: the app's authorize endpoint, asked when a subscribe carries no token")
	dur(&cfg.CallbackTTL, "auth-callback-ttl", "PUSHPOLL_AUTH_CALLBACK_TTL", "lifetime of a callback answer without ttl: its grant expires then and the client subscribes again")
	dur(&cfg.CallbackMaxTTL, "auth-callback-max-ttl", "PUSHPOLL_AUTH_CALLBACK_MAX_TTL", "cap on any callback answer's ttl: a credential revoked in the app stops receiving hints within it")
	str(&cfg.CallbackSessionCookie, "auth-callback-session-cookie", "PUSHPOLL_AUTH_CALLBACK_SESSION_COOKIE", "callback mode: the cookie that identifies the user when the app's answer names no sub; per-user bounds (--max-prefix-topics) are keyed on it; empty: the Authorization header, else the client address")
	str(&cfg.TokenAudience, "token-audience", "PUSHPOLL_TOKEN_AUDIENCE", "required aud claim")
	str(&cfg.PublishSecret, "publish-secret", "PUSHPOLL_PUBLISH_SECRET", "bearer secret for POST /v1/publish; empty turns HTTP publish off")
	str(&cfg.AdminSecret, "admin-secret", "PUSHPOLL_ADMIN_SECRET", "bearer secret for the admin API (/v1/admin/mode); empty turns it off")
	str(&cfg.PublishSecretFile, "publish-secret-file", "PUSHPOLL_PUBLISH_SECRET_FILE", "file holding --publish-secret (one line, ≥16 characters); read again within 10s of a change, a bad file keeps the old secret")
	str(&cfg.AdminSecretFile, "admin-secret-file", "PUSHPOLL_ADMIN_SECRET_FILE", "file holding --admin-secret (one line, ≥16 characters); read again within 10s of a change, a bad file keeps the old secret")
	str(&origins, "allowed-origins", "PUSHPOLL_ALLOWED_ORIGINS", "comma list of browser origins (https://app.example.com), wildcard origins (https://*.example.com: its subdomains, same scheme and port), or *; empty allows same origin only; requests without Origin pass")
	str(&cfg.Mode, "mode", "PUSHPOLL_MODE", "starting mode: push, shadow or poll")
	dur(&cfg.FastInterval, "fast-interval", "PUSHPOLL_FAST_INTERVAL", "poll interval told to clients when push is not trusted")
	dur(&cfg.SlowInterval, "slow-interval", "PUSHPOLL_SLOW_INTERVAL", "poll interval told to clients while push is healthy")
	dur(&cfg.HintThrottle, "hint-throttle", "PUSHPOLL_HINT_THROTTLE", "per-topic window: the first bump goes out at once, later ones in the window as one hint of the newest version at its end; 0 turns it off")
	real(&cfg.SpreadFactor, "spread-factor", "PUSHPOLL_SPREAD_FACTOR", "scales the window over which the holders of a widely held topic draw their polls after a hint: 1 keeps them at plain polling's rate, above 1 spreads more, 0 sends no window; 0..10")
	dur(&cfg.DrainTimeout, "drain-timeout", "PUSHPOLL_DRAIN_TIMEOUT", "how long a SIGTERM waits for sockets to move away")
	num(&cfg.MaxTopicsPerSocket, "max-topics-per-socket", "PUSHPOLL_MAX_TOPICS_PER_SOCKET", "topics one socket may hold")
	num(&cfg.MaxTopics, "max-topics", "PUSHPOLL_MAX_TOPICS", "distinct topics held on this node, 0 for no limit; a subscribe past it is refused")
	num(&cfg.MaxPrefixTopics, "max-prefix-topics", "PUSHPOLL_MAX_PREFIX_TOPICS", "distinct topics one credential (token sub, or callback credential) holds on this node through prefix grants, 0 for no limit")
	num(&cfg.MaxFrameBytes, "max-frame-bytes", "PUSHPOLL_MAX_FRAME_BYTES", "largest incoming socket.io frame; a larger one closes that socket")
	num(&cfg.MaxSockets, "max-sockets", "PUSHPOLL_MAX_SOCKETS", "sockets per node; beyond it handshakes get 503; 0: what the open-file limit leaves after --max-http-conns and 128 reserved, and at most half the cgroup memory limit at 16 KiB a socket; -1: no limit; caps that cannot fit stop the start")
	num(&cfg.MaxSocketsPerClient, "max-sockets-per-client", "PUSHPOLL_MAX_SOCKETS_PER_CLIENT", "sockets of one client address (see --trusted-proxies); beyond it handshakes get 429; 0: a tenth of --max-sockets, at least 100; -1: no limit")
	str(&proxies, "trusted-proxies", "PUSHPOLL_TRUSTED_PROXIES", "comma list of CIDRs of load balancers whose X-Forwarded-For names the client; \"private\" (the default): loopback, 10/8, 172.16/12, 192.168/16, fc00::/7; none: the peer address is the client")
	dur(&cfg.MaxTokenTTL, "max-token-ttl", "PUSHPOLL_MAX_TOKEN_TTL", "a token whose exp lies further ahead is refused (\"lifetime too long\"), not capped: a capped token could be sent again after each cap")
	dur(&cfg.SubscribeTimeout, "subscribe-timeout", "PUSHPOLL_SUBSCRIBE_TIMEOUT", "a socket that holds no granted topic this long after it connected is closed")
	num(&cfg.MaxHTTPConns, "max-http-conns", "PUSHPOLL_MAX_HTTP_CONNS", "HTTP connections that are not websockets (requests, long-polls); beyond it new ones are closed at once; 0: half the open-file limit, -1: no limit")
	dur(&cfg.BodyTimeout, "body-timeout", "PUSHPOLL_BODY_TIMEOUT", "time one request has to deliver its whole body, on every path")
	num(&maxPublish, "max-publish-bytes", "PUSHPOLL_MAX_PUBLISH_BYTES", "largest POST /v1/publish body (413 beyond)")
	num(&cfg.SubscribeBurst, "subscribe-burst", "PUSHPOLL_SUBSCRIBE_BURST", "subscribes a socket may send at once, then one per --subscribe-every")
	dur(&cfg.SubscribeEvery, "subscribe-every", "PUSHPOLL_SUBSCRIBE_EVERY", "refill interval of the per-socket subscribe budget")
	dur(&cfg.WriteTimeout, "write-timeout", "PUSHPOLL_WRITE_TIMEOUT", "a socket that cannot take a frame in this time is dropped as slow")
	dur(&cfg.PingInterval, "ping-interval", "PUSHPOLL_PING_INTERVAL", "Engine.IO heartbeat interval told to clients")
	dur(&cfg.PingTimeout, "ping-timeout", "PUSHPOLL_PING_TIMEOUT", "Engine.IO heartbeat timeout; must exceed --ping-interval")
	opts.logLevel = "info"
	str(&opts.logLevel, "log-level", "PUSHPOLL_LOG_LEVEL", "debug, info, warn or error")
	fs.BoolVar(&opts.dev, "dev", false, "local trial: generate and print a token secret and a publish secret, any origin, listen on "+devListen+" unless --listen says otherwise (never in production)")
	fs.BoolVar(&opts.version, "version", false, "print the version, the commit when known and the Go release, and exit")
	fs.BoolVar(&opts.demo, "demo", false, "like --dev, plus a live demo board at / on the same listener")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, settings, help)
			return cfg, opts, err
		}
		return cfg, opts, fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range settings {
		if v := getenv(s.env); v != "" && !given[s.flag] {
			if err := fs.Set(s.flag, v); err != nil {
				return cfg, opts, fmt.Errorf("%s: %w", s.env, err)
			}
		}
	}
	if (opts.dev || opts.demo) && !given["listen"] && getenv("PUSHPOLL_LISTEN") == "" {
		// A trial prints its secrets and accepts any origin: it must not be
		// reachable from the network unless someone asked for that.
		cfg.Listen = devListen
	}
	cfg.AllowedOrigins = notifier.SplitList(origins)
	cfg.TrustedProxies = notifier.SplitList(proxies)
	cfg.MaxPublishBytes = int64(maxPublish)
	return cfg, opts, nil
}

// durationFlag is a time.Duration flag whose error says what a duration
// looks like: the flag package's own says "parse error", which leaves
// `--fast-interval 5` a riddle.
type durationFlag struct{ p *time.Duration }

func (d durationFlag) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err == nil {
		*d.p = v
		return nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return fmt.Errorf("%q has no unit: use a duration such as %ss, 1m or 250ms", s, s)
	}
	return fmt.Errorf("%q is not a duration: use one such as 5s, 1m or 250ms", s)
}

func usage(fs *flag.FlagSet, settings []setting, w io.Writer) {
	fmt.Fprintln(w, "Usage: notifier [flags]        run a pushpoll node")
	fmt.Fprintln(w, "       notifier healthcheck    exit 0 if the local node answers /healthz (for container health checks)")
	fmt.Fprintln(w, "\nEvery flag also reads its environment variable when not given on the command line.")
	fmt.Fprintln(w, "\nFlags:")
	sort.Slice(settings, func(i, j int) bool { return settings[i].flag < settings[j].flag })
	for _, s := range settings {
		def := fs.Lookup(s.flag).DefValue
		if def == "" {
			def = "none"
		}
		if strings.Contains(s.flag, "secret") && def != "none" {
			def = "(set)"
		}
		fmt.Fprintf(w, "  --%-22s %-32s default %s\n      %s\n", s.flag, s.env, def, s.help)
	}
	for _, name := range []string{"demo", "dev", "version"} {
		fmt.Fprintf(w, "  --%-22s %-32s default false\n      %s\n", name, "", fs.Lookup(name).Usage)
	}
}

// devDefaults makes a local trial work with no configuration: random
// secrets, printed once, and any origin allowed.
func devDefaults(cfg *notifier.Config, stderr io.Writer) error {
	if cfg.TokenSecret == "" && cfg.TokenSecretFile == "" && cfg.TokenPublicKeyFile == "" && len(cfg.TokenPublicKey) == 0 {
		cfg.TokenSecret = randomHex(32)
		fmt.Fprintf(stderr, "dev mode, for local trials only: generated --token-secret %s\n", cfg.TokenSecret)
	}
	if cfg.PublishSecret == "" && cfg.PublishSecretFile == "" {
		cfg.PublishSecret = randomHex(16)
		fmt.Fprintf(stderr, "dev mode, for local trials only: generated --publish-secret %s\n", cfg.PublishSecret)
	}
	if len(cfg.AllowedOrigins) == 0 {
		cfg.AllowedOrigins = []string{"*"}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func displayAddr(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if host == "::" || host == "0.0.0.0" || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// healthcheck asks the local node's /healthz; containers without a shell
// use it as their HEALTHCHECK.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) error {
	listen := getenv("PUSHPOLL_LISTEN")
	if len(args) > 0 {
		listen = args[0]
	}
	if listen == "" {
		listen = ":8080"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("healthcheck: bad address %q", listen)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	fmt.Fprintln(stderr, "ok")
	return nil
}
