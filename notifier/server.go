package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	work    *workers      // runs subscribes off the socket reader goroutines
	writers *writerPool   // empties socket mailboxes (writer.go)
	hints   *hintThrottle // per-topic fan-out throttle (throttle.go)
	node    string        // this node's id, the prefix of its session ids
	peers   *peers        // the other nodes; nil on the in-process broker

	caps     caps              // connection bounds fitted to the host (budget.go)
	clientIP clientip.Resolver // who a request's client is (--trusted-proxies)
	clients  *clientCounts     // sockets per client address
	reports  *reportLimits     // shadow-report budget per credential

	flag     atomic.Value // string: the feature flag, push/shadow/poll
	trusted  atomic.Bool  // broker link up and resynced: push may be trusted
	draining atomic.Bool

	linkMu     sync.Mutex // serialises link transitions and resyncs
	linkGen    int        // bumped on every transition; a resync checks it is still current
	wasDown    bool       // the link went down at least once: bumps may have been missed
	httpServer *http.Server

	// partMu guards partDown: topics whose cluster shard is lost, mapped
	// to the partGen of that event (partlink.go). Never held with linkMu.
	partMu   sync.Mutex
	partGen  int
	partDown map[string]int
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
	s.flag.Store(cfg.Mode)
	s.node = socketio.NewNodeID()

	broker, err := newBroker(cfg, s.node, log)
	if err != nil {
		return nil, err
	}
	s.broker = broker
	if r, ok := broker.(keyRunner); ok {
		s.peers = newPeers(redisPeers{r}, s.node, log.With("component", "peers"))
	}

	keys, err := cfg.tokenKeys()
	if err != nil {
		return nil, err
	}
	auth, err := authbridge.New(authbridge.Config{
		TokenSecrets:    keys.Secrets,
		TokenPublicKey:  keys.PublicKeyPEM,
		Audience:        cfg.TokenAudience,
		MaxTokenTTL:     cfg.MaxTokenTTL,
		CallbackURL:     cfg.AuthCallbackURL,
		CallbackTimeout: 2 * time.Second,

		CallbackDefaultTTL: cfg.CallbackTTL,
		CallbackMaxTTL:     cfg.CallbackMaxTTL,

		CallbackSessionCookie: cfg.CallbackSessionCookie,
	})
	if err != nil {
		return nil, err
	}
	s.auth = auth
	s.hub = newHub(s.broker, cfg.MaxTopics, cfg.MaxPrefixTopics)
	s.reports = newReportLimits(2*reportBurst, cfg.FastInterval/reportBurst)
	s.m = newMetrics(s)
	s.hints = newHintThrottle(cfg.HintThrottle, s.fanOut, s.m.hintsThrottled.Inc)
	// Enough workers to keep both cores busy verifying tokens in a storm
	// while a few wait on Redis; more would only hold grown stacks.
	s.work = newWorkers(4 * runtime.GOMAXPROCS(0))
	writers := cfg.Writers
	if writers <= 0 {
		writers = runtime.GOMAXPROCS(0)
	}
	s.writers = newWriterPool(writers)

	sioCfg := s.socketConfig()
	if sioCfg.NodeSecrets, err = cfg.nodeSecrets(); err != nil {
		return nil, err
	}
	s.sio, err = socketio.NewServer(sioCfg, socketio.Handler[*socket]{
		Connect:    s.onConnect,
		Disconnect: s.onDisconnect,
		Error:      s.onError,
		Calls: map[string]func(*socket, json.RawMessage) json.RawMessage{
			"subscribe": s.onSubscribe,
		},
		Events: map[string]func(*socket, json.RawMessage){
			"unsubscribe": s.onUnsubscribe,
			"report":      s.onReport,
			"tabs":        s.onTabs,
		},
	})
	if err != nil {
		return nil, err
	}

	r := mux.NewRouter()
	r.PathPrefix("/socket.io/").Handler(s.clientGate(s.sio))
	r.HandleFunc("/v1/publish", s.handlePublish).Methods(http.MethodPost)
	r.HandleFunc("/v1/admin/mode", s.handleMode).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/healthz", s.handleHealth).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.handleReady).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/pushpoll.js", s.serveAsset(shimScript)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/pushpoll.js.map", s.serveAsset(shimMap)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/pushpoll.mjs", s.serveAsset(shimModule)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	s.router = r
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
	s.log.Info("listening", "addr", ln.Addr().String(), "broker", fmt.Sprintf("%T", s.broker), "mode", s.cfg.Mode, "node", s.node, "advertise", advertised,
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
	s.log.Info("draining", "sockets", n, "within", s.cfg.DrainTimeout.String())
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
	s.sio.CloseAll()
	s.m.drainSeconds.Set(time.Since(start).Seconds())
	n, _ = s.hub.counts()
	s.log.Info("drained", "took", time.Since(start).Round(time.Millisecond), "closed", n)
}

// currentMode is what clients are told: the feature flag, overridden to
// poll while push cannot be trusted (broker link down or not yet resynced).
func (s *Server) currentMode() modeMsg {
	mode := s.flag.Load().(string)
	if !s.trusted.Load() {
		mode = "poll"
	}
	return modeMsg{Mode: mode, Fast: s.cfg.FastInterval.Milliseconds(), Slow: s.cfg.SlowInterval.Milliseconds()}
}

// SetMode changes the feature flag at run time and tells every socket.
func (s *Server) SetMode(mode string) error {
	switch mode {
	case "push", "shadow", "poll":
	default:
		// The flag comes from the bus, where anyone with Redis access can
		// write megabytes; only a bounded prefix of it reaches a log line.
		return fmt.Errorf("mode must be push, shadow or poll, not %q (%d bytes)", truncate(mode, 32), len(mode))
	}
	if s.flag.Swap(mode).(string) == mode {
		return nil
	}
	s.m.modeChanges.Inc()
	s.log.Info("mode changed", "mode", mode)
	m := s.currentMode()
	s.hub.eachSocket(func(sk *socket) { s.tellMode(sk, m) })
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
	if err := s.SetMode(mode); err != nil {
		s.warn.Warn("bad flag", "ignoring bad feature flag from the bus", "err", err)
	}
}

// Mode returns the feature flag.
func (s *Server) Mode() string { return s.flag.Load().(string) }

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

// Link implements BrokerHandler. Going down, every socket is told to poll at
// once. Coming back, the node resyncs: hints for whatever may have been
// missed, then push again.
func (s *Server) Link(up bool) {
	s.hub.linkChanged()
	s.linkMu.Lock()
	s.linkGen++
	gen := s.linkGen
	s.linkMu.Unlock()
	if !up {
		s.linkMu.Lock()
		s.wasDown = true
		s.linkMu.Unlock()
		s.m.linkTransitions.WithLabelValues("down").Inc()
		s.trusted.Store(false)
		m := s.currentMode()
		s.hub.eachSocket(func(sk *socket) { sk.setMode(m) })
		return
	}
	s.m.linkTransitions.WithLabelValues("up").Inc()
	go s.resync(gen)
}

// resync runs after the broker link came back. Where the version table has
// a topic, only sockets behind it are hinted (fanOut compares versions);
// where it has none, every holder gets v 0, "poll to be sure". Fan-outs are
// spread over ResyncSpread so a big topic's clients do not poll at once.
func (s *Server) resync(gen int) {
	current := func() bool {
		s.linkMu.Lock()
		defer s.linkMu.Unlock()
		return s.linkGen == gen && s.broker.Up()
	}
	s.linkMu.Lock()
	afterOutage := s.wasDown
	s.linkMu.Unlock()
	topics := s.hub.topicNames()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	versions, err := s.broker.Versions(ctx, topics)
	cancel()
	if err != nil {
		s.log.Warn("version table unreadable after reconnect; hinting v 0", "err", err)
		versions = nil
	}
	rand.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
	const steps = 20
	for i, t := range topics {
		if !current() {
			return
		}
		v, known := versions[t]
		if !known && !afterOutage {
			// The first link-up of a node: nothing was missed while it
			// was down, only what its sockets' subscribes already read.
			continue
		}
		s.hub.fanOut(t, v) // 0 where the table has nothing: poll to be sure
		if len(topics) > steps && i%(len(topics)/steps) == 0 {
			time.Sleep(s.cfg.ResyncSpread / steps)
		}
	}
	if !current() {
		return
	}
	s.trusted.Store(true)
	m := s.currentMode()
	s.hub.eachSocket(func(sk *socket) { s.tellMode(sk, m) })
}

// onConnect registers the socket. It runs on the connection's reader, so it
// sends nothing itself: the mode notice goes to the mailbox, which the
// writer pool drains.
func (s *Server) onConnect(c socketio.Conn) *socket {
	h := c.Header()
	sk := newSocket(c.ID(), c, s.writers)
	sk.cookie, sk.authorization = h.Get("Cookie"), h.Get("Authorization")
	sk.onWrite = func(hints int) { s.m.hintsSent.Add(float64(hints)) }
	sk.limiter = newBucket(s.cfg.SubscribeBurst, s.cfg.SubscribeEvery)
	sk.reports = newBucket(2*reportBurst, s.cfg.FastInterval/reportBurst)
	admitted := s.admit(sk, h.Get(clientHeader))
	s.hub.addSocket(sk)
	sk.setMode(s.currentMode())
	if !admitted {
		_ = c.Close() // Disconnect follows, with sk
	}
	return sk
}

func (s *Server) onDisconnect(sk *socket) {
	if sk != nil {
		s.release(sk)
		s.hub.removeSocket(sk)
	}
}

func (s *Server) onError(err error) {
	s.warn.Warn("socket error", "socket error", "err", err)
}

type subscribeRequest struct {
	Token  string           `json:"token"`
	Topics map[string]int64 `json:"topics"`
}

type subscribeAck struct {
	Granted []string          `json:"granted"`
	Denied  map[string]string `json:"denied"`
	Error   string            `json:"error,omitempty"`
}

// onSubscribe authorizes topics and catches the client up: if this node, or
// the version table, knows a newer version than the client holds, a stale
// hint follows at once.
// onSubscribe runs the subscribe, and encodes its ack, on a worker: the
// socket's reader goroutine only waits.
func (s *Server) onSubscribe(sk *socket, raw json.RawMessage) json.RawMessage {
	done := make(chan json.RawMessage, 1)
	s.work.run(func() {
		ack, err := json.Marshal(s.subscribe(sk, raw))
		if err != nil { // a subscribeAck always encodes
			panic(err)
		}
		done <- ack
	})
	return <-done
}

func (s *Server) subscribe(sk *socket, raw json.RawMessage) subscribeAck {
	ack := subscribeAck{Granted: []string{}, Denied: map[string]string{}}
	denied := denials{}
	defer s.countDenials(denied)
	if sk == nil {
		ack.Error = "not connected"
		return ack
	}
	if !sk.limiter.allow(time.Now()) {
		ack.Error = "too many subscribes"
		denied.add("rate limited")
		return ack
	}
	var req subscribeRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		ack.Error = "bad subscribe: want {\"token\":\"…\",\"topics\":{\"topic\":version}}"
		denied.add("bad subscribe")
		return ack
	}
	if len(req.Topics)+sk.topicCount() > s.cfg.MaxTopicsPerSocket {
		ack.Error = fmt.Sprintf("too many topics: at most %d per socket", s.cfg.MaxTopicsPerSocket)
		denied.add("too many topics")
		return ack
	}
	asked := make([]string, 0, len(req.Topics))
	for t := range req.Topics {
		switch err := CheckTopic(t); {
		case errors.Is(err, ErrReservedTopic):
			ack.Denied[t] = err.Error()
			denied.add(err.Error())
			continue
		case err != nil:
			ack.Denied[truncate(t, MaxTopicLen)] = "invalid topic"
			denied.add("invalid topic")
			continue
		}
		asked = append(asked, t)
	}
	if len(asked) == 0 {
		return ack
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := s.auth.Authorize(ctx, authbridge.Request{
		Token: req.Token, Topics: asked, Cookie: sk.cookie, Authorization: sk.authorization, Client: sk.client,
	}, time.Now())
	for t, reason := range d.Denied {
		ack.Denied[t] = reason
		denied.add(reason)
	}
	if len(d.Granted) == 0 {
		return ack
	}
	held := make(map[string]int64, len(d.Granted))
	for _, t := range d.Granted {
		held[t] = max(req.Topics[t], 0)
	}
	ack.Granted = d.Granted
	sk.subscribed.Store(true)
	sk.credential.Store(&d.Credential)
	added := sk.grant(held, d.Expires, func() { s.expire(sk) })
	sk.signedBy(d.Granted, d.Key)
	known, err := s.hub.join(sk, added, newOnly(d.ByPrefix, added), d.Credential)
	if errors.Is(err, errSocketGone) {
		return ack // nobody is left to read it
	}
	if err != nil {
		// A node-wide limit: nothing of this subscribe is kept.
		sk.drop(added)
		denied.add(err.Error())
		ack.Granted = []string{}
		ack.Error = s.limitMessage(err)
		return ack
	}
	if s.holdsDownTopic(sk) {
		s.tellMode(sk, s.currentMode()) // one of its topics is on a lost shard
	}
	for t, v := range known {
		if v > 0 {
			sk.hint(t, v) // hint compares with what the client holds
		}
	}
	// Only once Redis has applied the SUBSCRIBE of topics new to this node
	// does a bump reach it; reading the version table after that, and only
	// then acking, leaves no window in which a bump the app publishes right
	// after the ack is lost. The version table may also know of bumps this
	// node never saw (published while the client was on another node),
	// unless the node's versions are complete: then join hinted them.
	steady, _ := s.broker.(steadyBroker)
	if steady != nil && s.hub.complete(d.Granted) {
		return ack
	}
	epoch := s.hub.linkEpoch()
	confirmed := true
	if len(added) > 0 {
		// Two seconds is hundreds of Redis round trips; beyond it the link
		// is failing and the resync after it covers the topics anyway.
		wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.broker.WaitSubscribed(wctx, added)
		wcancel()
		if err != nil {
			s.warn.Warn("subscribe not confirmed", "broker did not confirm a subscribe in time", "err", err)
			confirmed = false
		}
	}
	// WaitSubscribed also returns when the link is down; markComplete
	// discounts a read if the link changed since epoch, and Up rules out
	// one that was down all along.
	if s.catchUp(ctx, sk, d.Granted) && confirmed && steady != nil && s.broker.Up() {
		s.hub.markComplete(added, epoch)
	}
	return ack
}

// newOnly returns the topics of list that are in added.
func newOnly(list, added []string) []string {
	if len(list) == 0 {
		return nil
	}
	fresh := make(map[string]bool, len(added))
	for _, t := range added {
		fresh[t] = true
	}
	var out []string
	for _, t := range list {
		if fresh[t] {
			out = append(out, t)
		}
	}
	return out
}

// limitMessage is the ack error for a topic limit the hub refused.
func (s *Server) limitMessage(err error) string {
	if errors.Is(err, errPrefixTopics) {
		return fmt.Sprintf("too many topics granted by prefix: at most %d per credential on this node", s.cfg.MaxPrefixTopics)
	}
	return fmt.Sprintf("too many topics on this node: at most %d", s.cfg.MaxTopics)
}

// catchUp reads topics' versions from the table for sk, and reports
// whether it could.
func (s *Server) catchUp(ctx context.Context, sk *socket, topics []string) bool {
	versions, err := s.broker.Versions(ctx, topics)
	if err != nil {
		s.warn.Warn("version table", "version table read failed", "err", err)
		return false
	}
	for t, v := range versions {
		s.hub.observe(t, v)
		sk.hint(t, v)
	}
	return true
}

// expire runs when a socket's earliest grant lapses.
func (s *Server) expire(sk *socket) {
	gone := sk.expire(time.Now(), func() { s.expire(sk) })
	s.hub.leave(sk, gone)
}

func (s *Server) onUnsubscribe(sk *socket, raw json.RawMessage) {
	if sk == nil {
		return
	}
	var topics []string
	if err := json.Unmarshal(raw, &topics); err != nil {
		s.warn.Warn("bad unsubscribe", "bad unsubscribe frame", "err", err)
		return
	}
	s.hub.leave(sk, sk.drop(topics))
}

// maxTabs bounds a socket's reported tab count: no browser runs more tabs
// of one app, and a forged report then cannot skew the tab metric by more
// than this.
const maxTabs = 1000

// onTabs records how many tabs share the socket (the shim reports it when
// tabs of one browser share a connection). Anything but a whole number in
// 1..maxTabs is ignored: the count only feeds a metric.
func (s *Server) onTabs(sk *socket, raw json.RawMessage) {
	if sk == nil {
		return
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n < 1 || n > maxTabs {
		s.warn.Warn("bad tabs", "bad tabs report", "err", err, "tabs", n)
		return
	}
	sk.tabs.Store(n)
}

// shadowReport is what a client in shadow mode says about one hint or one
// change its poll found.
type shadowReport struct {
	Topic  string `json:"topic"`
	Found  *bool  `json:"found"`
	LeadMs int64  `json:"leadMs"`
	Missed bool   `json:"missed"`
}

// reportBurst is what the shim sends after one poll at most (DESIGN §8);
// a socket gets twice that at once and then that many per fast interval,
// the fastest a page in shadow mode polls.
const reportBurst = 10

// onReport turns a client's shadow report into metrics. Operators switch to
// push on these figures, so a report counts only from a socket that was
// told shadow, about a topic it holds, within its rate: anything else is
// counted apart and changes nothing.
func (s *Server) onReport(sk *socket, raw json.RawMessage) {
	if sk == nil {
		return
	}
	var r shadowReport
	switch {
	case s.currentMode().Mode != "shadow":
		s.m.shadowIgnored.WithLabelValues("not in shadow mode").Inc()
		return
	case !sk.reports.allow(time.Now()):
		s.m.shadowIgnored.WithLabelValues("rate limited").Inc()
		return
	case json.Unmarshal(raw, &r) != nil:
		s.m.shadowIgnored.WithLabelValues("bad report").Inc()
		return
	case !sk.holds(r.Topic):
		s.m.shadowIgnored.WithLabelValues("topic not held").Inc()
		return
	case !s.reports.allow(sk.who(), time.Now()):
		s.m.shadowIgnored.WithLabelValues("credential rate limited").Inc()
		return
	}
	switch {
	case r.Missed:
		s.m.shadow.WithLabelValues("missed").Inc()
	case r.Found != nil && *r.Found:
		s.m.shadow.WithLabelValues("hit").Inc()
		if r.LeadMs >= 0 && r.LeadMs < int64(time.Hour/time.Millisecond) {
			s.m.shadowLead.Observe(float64(r.LeadMs) / 1000)
		}
	case r.Found != nil:
		s.m.shadow.WithLabelValues("false").Inc()
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady fails while draining or while the broker link is down, so a
// load balancer stops sending new sockets here.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	case !s.broker.Up():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "broker down"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
