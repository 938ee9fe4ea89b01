package notifier

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"github.com/pushpoll/pushpoll/authbridge"
	"github.com/pushpoll/pushpoll/internal/clientip"
	"github.com/pushpoll/pushpoll/internal/ratelog"
	"github.com/pushpoll/pushpoll/internal/socketio"
)

// Server is one notifier node.
type Server struct {
	cfg Config
	log *slog.Logger
	// parts is the caller's logger, which each part (wire, broker) tags
	// with its own component: tagging ours again would repeat the key.
	parts   *slog.Logger
	warn    *ratelog.Logger
	broker  Broker
	auth    authbridge.Authorizer
	hub     *hub
	sio     *socketio.Server
	m       *metrics
	router  *mux.Router
	work    *workers        // runs subscribes off the goroutines that read sockets
	writers *writerPool     // empties socket mailboxes (writer.go)
	hints   *hintThrottle   // per-topic fan-out throttle (throttle.go)
	events  *socketEvents   // what sockets do (events.go)
	node    string          // this node's id, the prefix of its session ids
	peers   *peers          // the other nodes; nil on the in-process broker
	debug   *ratelog.Logger // per-connection debug lines (connlog.go)
	// publishSecret and adminSecret are the bearer secrets in use: a
	// watched file may replace them (secretfile.go).
	publishSecret, adminSecret secret
	files                      []*watchedFile // read again every SecretPoll
	// adminRouter serves --admin-listen (routes.go); nil without it.
	adminRouter *mux.Router

	caps     caps              // connection bounds fitted to the host (budget.go)
	clientIP clientip.Resolver // who a request's client is (--trusted-proxies)
	clients  *clientCounts     // sockets per client address

	flag     modeFlag   // the feature flag
	trust    *linkTrust // what the broker's link events allow this node to promise (trust.go)
	draining atomic.Bool
	// closingAll is set once the drain is over and the node closes the
	// sockets that remain (their reason is server_shutdown).
	closingAll atomic.Bool

	httpServer *http.Server
}

// New builds a node from cfg. Call Serve to run it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log.With("component", "notifier"), parts: log, clients: newClientCounts()}
	var err error
	if s.caps, err = cfg.caps(currentLimits()); err != nil {
		return nil, err
	}
	s.clientIP, _ = clientip.ParseTrusted(cfg.TrustedProxies) // checked by Validate
	s.warn = ratelog.New(s.log, 10*time.Second)
	s.debug = ratelog.New(s.log, debugEvery)
	s.flag.Swap(Mode(cfg.Mode)) // Validate checked it
	s.node = socketio.NewNodeID()
	if err := readRedisSecrets(&cfg); err != nil {
		return nil, err
	}
	s.cfg = cfg
	if cfg.RedisTLS.InsecureSkipVerify {
		s.log.Warn("--redis-tls-insecure-skip-verify: the Redis server's certificate is not checked; for development only")
	}

	broker, err := newBroker(cfg, s.node, log)
	if err != nil {
		return nil, err
	}
	s.broker = broker
	if keys, ok := broker.(KeyStore); ok {
		s.peers = newPeers(brokerPeers{keys}, s.node, log.With("component", "peers"))
	}

	keys, err := cfg.tokenKeys()
	if err != nil {
		return nil, err
	}
	auth, err := authbridge.New(authbridge.Config{
		TokenSecrets:    keys.Secrets,
		TokenPublicKey:  keys.PublicKeyPEM,
		MaxTokenTTL:     cfg.MaxTokenTTL,
		Audience:        cfg.TokenAudience,
		CallbackURL:     cfg.AuthCallbackURL,
		CallbackTimeout: 2 * time.Second,

		CallbackDefaultTTL: cfg.CallbackTTL,
		CallbackMaxTTL:     cfg.CallbackMaxTTL,

		CallbackSessionCookie: cfg.CallbackSessionCookie,
		OnCallback:            func(result string, took time.Duration) { s.m.callbackDone(result, took) },
	})
	if err != nil {
		return nil, err
	}
	s.auth = auth
	s.hub = newHub(s.broker, cfg.MaxTopics, cfg.MaxPrefixTopics)
	s.hub.spread = newSpreader(cfg.SpreadFactor, cfg.FastInterval, cfg.SlowInterval)
	s.trust = &linkTrust{cfg: cfg, log: s.log, hub: s.hub, broker: s.broker, flag: &s.flag}
	s.m = newMetrics(s)
	s.trust.m = s.m
	if err := s.loadSecrets(); err != nil {
		return nil, err
	}
	s.hints = newHintThrottle(cfg.HintThrottle, s.fanOut, s.m.hintsThrottled.Inc)
	// Enough workers to keep both cores busy verifying tokens in a storm
	// while a few wait on Redis; more would only hold grown stacks.
	s.work = newWorkers(4 * runtime.GOMAXPROCS(0))
	writers := cfg.Writers
	if writers <= 0 {
		writers = runtime.GOMAXPROCS(0)
	}
	s.writers = newWriterPool(writers, func(n int) { s.m.hintsSent.Add(float64(n)) })
	s.events = &socketEvents{
		cfg: cfg, warn: s.warn, auth: s.auth, hub: s.hub, broker: s.broker,
		trust: s.trust, m: s.m, work: s.work, writers: s.writers,
		reports: newReportLimits(2*reportBurst, cfg.FastInterval/reportBurst),
		admit:   s.admit, release: s.release,
		connected: s.connected, disconnected: s.disconnected, subscribed: s.subscribed,
	}

	sioCfg := s.socketConfig()
	if sioCfg.NodeSecrets, err = cfg.nodeSecrets(); err != nil {
		return nil, err
	}
	s.sio, err = socketio.NewServer(sioCfg, socketio.Handler[*socket]{
		Connect:    s.events.onConnect,
		Auth:       s.events.onAuth,
		Disconnect: s.events.onDisconnect,
		Error:      s.events.onError,
		Calls: map[string]func(*socket, json.RawMessage) json.RawMessage{
			"subscribe": s.events.onSubscribe,
		},
		Events: map[string]func(*socket, json.RawMessage){
			"unsubscribe": s.events.onUnsubscribe,
			"report":      s.events.onReport,
			"tabs":        s.events.onTabs,
		},
	})
	if err != nil {
		return nil, err
	}

	s.router, s.adminRouter = s.routes()
	return s, nil
}

func (s *Server) socketConfig() socketio.Config {
	c := socketio.Config{
		AllowedOrigins: s.cfg.AllowedOrigins,
		MaxFrameBytes:  s.cfg.MaxFrameBytes,
		MaxPollBody:    int64(s.cfg.MaxFrameBytes) * 4,
		WriteTimeout:   s.cfg.WriteTimeout,
		PingInterval:   s.cfg.PingInterval,
		PingTimeout:    s.cfg.PingTimeout,
		MaxSockets:     s.caps.sockets,
		Draining:       s.draining.Load,
		OnReject:       func(reason string) { s.m.wireRejected.WithLabelValues(reason).Inc() },
		OnSlow:         s.m.slow.Inc,
		Logger:         s.parts,
		NodeID:         s.node,
		OnForward:      func(result string) { s.m.forwarded.WithLabelValues(result).Inc() },
		// All onConnect reads: the callback mode forwards no other header.
		Headers: []string{"Cookie", "Authorization", clientHeader},
	}
	if s.peers != nil {
		c.Peer = s.peers.lookup
	}
	return c
}

// Router is the node's HTTP handler; callers may add routes to it.
func (s *Server) Router() *mux.Router { return s.router }

// Serve runs the node on ln until ctx ends, then drains and shuts down in
// order (README, Operations: drain on deploy). It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeAdmin(ctx, ln, nil)
}

// ServeAdmin is Serve with the admin listener (--admin-listen) given by the
// caller; nil listens on Config.AdminListen when it is set.
func (s *Server) ServeAdmin(ctx context.Context, ln, adminLn net.Listener) error {
	stopAdmin, err := s.serveAdmin(adminLn)
	if err != nil {
		return err
	}
	defer stopAdmin()
	defer s.watchFiles()()
	brokerCtx, stopBroker := context.WithCancel(context.Background())
	brokerDone := make(chan struct{})
	go func() {
		defer close(brokerDone)
		s.broker.Run(brokerCtx, s)
	}()
	ioDone := make(chan struct{})
	go func() {
		defer close(ioDone)
		_ = s.sio.Serve()
	}()
	// Requests' contexts end once the drain is over, which releases
	// forwarded polls held open on other nodes (Shutdown would wait on them).
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	advertised, stopAdvertising := s.advertise(ln)
	s.httpServer = &http.Server{
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		Handler:           bodyDeadline(s.cfg.BodyTimeout, s.router),
		ReadHeaderTimeout: 10 * time.Second,
		// Long-polling GETs are held open up to the ping interval; the idle
		// timeout only concerns keep-alive connections between requests.
		IdleTimeout: 2 * time.Minute,
	}
	if limit := s.httpConnLimit(); limit > 0 {
		l := newConnLimit(limit, func() { s.m.wireRejected.WithLabelValues("too many connections").Inc() },
			func() { s.m.wireRejected.WithLabelValues("idle keep-alive shed").Inc() })
		s.httpServer.ConnState, s.httpServer.ConnContext = l.state, l.context
		s.httpServer.Handler = l.probesOnly(s.httpServer.Handler)
	}
	served := make(chan error, 1)
	go func() { served <- s.httpServer.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String(), "broker", brokerName(s.broker), "mode", s.cfg.Mode, "node", s.node, "advertise", advertised,
		"max_sockets", s.caps.sockets, "max_sockets_per_client", s.caps.perClient, "max_http_conns", s.caps.httpConns)

	select {
	case err := <-served:
		stopAdvertising()
		stopBroker()
		<-brokerDone
		s.hints.stop()
		return err
	case <-ctx.Done():
	}
	s.shutdown()
	endRequests()
	// Withdrawn only now: until the drain ended, peers forwarded polls for
	// the sessions still here.
	stopAdvertising()
	stopBroker()
	<-brokerDone
	s.hints.stop()
	if c, ok := s.broker.(io.Closer); ok {
		_ = c.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown does not wait for hijacked (websocket) connections; they
	// were closed above.
	if err := s.httpServer.Shutdown(sctx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	// go-socket.io's Close last: it panics on handshakes that arrive after it.
	_ = s.sio.Close()
	<-ioDone
	s.work.stop()
	s.writers.stop()
	return nil
}

// advertise starts advertising this node to its peers and returns the URL
// and a function that withdraws it and waits for that. On the in-process
// broker there are no peers.
func (s *Server) advertise(ln net.Listener) (string, func()) {
	if s.peers == nil {
		return "", func() {}
	}
	u := s.cfg.AdvertiseURL
	if u == "" {
		u = defaultAdvertiseURL(ln.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s.peers.run(ctx, u, ready)
	}()
	<-ready
	return u, func() { cancel(); <-done }
}

// httpConnLimit is --max-http-conns as fitted to the host (budget.go).
func (s *Server) httpConnLimit() int { return s.caps.httpConns }

// shutdown drains: refuse new handshakes and fail readiness, tell every
// socket to move within the drain window, wait for them to leave, then close
// what remains.
func (s *Server) shutdown() {
	start := time.Now()
	s.draining.Store(true)
	n, _ := s.hub.counts()
	s.log.Info("draining", "sockets", n, "within_ms", s.cfg.DrainTimeout.Milliseconds())
	// Clients reconnect after a random delay up to `within`; leave them some
	// of the window to actually do it before we close what remains.
	within := s.cfg.DrainTimeout * 2 / 3
	s.hub.eachSocket(func(sk *socket) { sk.setDrain(drainMsg{Within: within.Milliseconds()}) })
	deadline := time.Now().Add(s.cfg.DrainTimeout)
	for time.Now().Before(deadline) {
		if n, _ := s.hub.counts(); n == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Close every connection the wire accepted, including half-done
	// handshakes and upgrades, and release held long-poll GETs, which
	// http.Server.Shutdown would otherwise wait on.
	s.closingAll.Store(true)
	s.sio.CloseAll()
	s.m.drainSeconds.Set(time.Since(start).Seconds())
	n, _ = s.hub.counts()
	s.log.Info("drained", "took_ms", time.Since(start).Milliseconds(), "closed", n)
}

// SetMode changes the feature flag at run time and tells every socket.
func (s *Server) SetMode(mode Mode) error {
	if _, err := ParseMode(string(mode)); err != nil {
		return err
	}
	if s.flag.Swap(mode) == mode {
		return nil
	}
	s.m.modeChanges.Inc()
	s.log.Info("mode changed", "mode", mode)
	s.trust.retell(nil)
	return nil
}

// Publish raises topic to v and announces it, as POST /v1/publish does,
// for code running in the same process (the demo app).
func (s *Server) Publish(ctx context.Context, topic string, v int64) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	_, err := s.broker.Publish(ctx, topic, v, time.Now().UnixMilli())
	return err
}

// Sockets is the number of sockets registered with the hub.
func (s *Server) Sockets() int { n, _ := s.hub.counts(); return n }

// Sessions is the socket.io layer's own session count; it must fall back to
// zero with Sockets, or sessions are leaking.
func (s *Server) Sessions() int { return s.sio.Count() }

// Flag implements BrokerHandler: the feature flag as set for every node.
func (s *Server) Flag(mode string) {
	if err := s.SetMode(Mode(mode)); err != nil {
		s.warn.Warn("bad flag", "ignoring bad feature flag from the bus", "err", err)
	}
}

// Mode returns the feature flag.
func (s *Server) Mode() Mode { return s.flag.Load() }

// Link implements BrokerHandler: the link trust takes it (trust.go).
func (s *Server) Link(ev LinkEvent) { s.trust.onLink(ev) }

// Message implements BrokerHandler: one publish from the bus.
func (s *Server) Message(topic string, payload []byte) {
	if !ValidTopic(topic) {
		s.m.rejected.WithLabelValues(ErrBadTopic.Error()).Inc()
		s.warn.Warn("bad topic", "publish dropped", "reason", ErrBadTopic.Error(), "topic", truncate(topic, 64))
		return
	}
	v, ts, err := ParsePayload(payload)
	if err != nil {
		reason := Reason(err)
		s.m.rejected.WithLabelValues(reason).Inc()
		s.warn.Warn(reason, "publish dropped", "reason", reason, "topic", topic, "detail", err.Error())
		return
	}
	s.m.published.Inc()
	s.hints.bump(topic, v, ts)
}
