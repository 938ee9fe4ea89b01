package notifier

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pushpoll/pushpoll/internal/version"
)

// metrics live in a registry of the server's own, not the global one, so
// tests can run several nodes in one process.
type metrics struct {
	reg *prometheus.Registry

	hintsSent      prometheus.Counter
	hintsCoalesced prometheus.Counter
	hintsThrottled prometheus.Counter
	published      prometheus.Counter
	rejected       *prometheus.CounterVec
	authDenied     *prometheus.CounterVec
	slow           prometheus.Counter
	wireRejected   *prometheus.CounterVec
	forwarded      *prometheus.CounterVec
	latency        prometheus.Histogram
	drainSeconds   prometheus.Gauge
	// protocols counts connected sockets by the Engine.IO version their
	// client speaks (socketio.Conn.Protocol): "eio3" for socket.io 2
	// clients, "eio4" for socket.io 3 and 4.
	protocols       *prometheus.GaugeVec
	shadow          *prometheus.CounterVec
	shadowLead      prometheus.Histogram
	shadowIgnored   *prometheus.CounterVec
	keyReloads      *prometheus.CounterVec
	grantsRevoked   prometheus.Counter
	modeChanges     prometheus.Counter
	linkTransitions *prometheus.CounterVec
	secretReloads   *prometheus.CounterVec
	opsMetrics
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	build := version.Get()
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "goversion": build.Go}},
		func() float64 { return 1 }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_sockets", Help: "Connected sockets."},
		func() float64 { n, _ := s.hub.counts(); return float64(n) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_tabs", Help: "Browser tabs served by the connected sockets (tabs of one browser may share a socket)."},
		func() float64 { return float64(s.hub.tabs()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_topics", Help: "Topics with at least one local holder."},
		func() float64 { _, n := s.hub.counts(); return float64(n) }))
	f(linkCollector{s.broker})
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_push_trusted", Help: "1 while clients are told to trust push (mode push, link up, resynced)."},
		func() float64 { return b2f(s.trust.currentMode().Mode == ModePush) }))
	for _, mode := range Modes {
		mode := mode
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_mode", Help: "Configured mode (feature flag), 1 for the current one.",
			ConstLabels: prometheus.Labels{"mode": string(mode)}},
			func() float64 { return b2f(s.flag.Load() == mode) }))
	}

	m.hintsSent = counter(f, "pushpoll_hints_sent_total", "Stale hints written to sockets (one per topic per event).")
	m.hintsCoalesced = counter(f, "pushpoll_hints_coalesced_total", "Bumps that did not add a hint: duplicates, out of order, or merged into a pending one.")
	m.hintsThrottled = counter(f, "pushpoll_hints_throttled_total", "Bumps held back by the per-topic throttle (--hint-throttle) and folded into one trailing fan-out of the newest version.")
	m.published = counter(f, "pushpoll_publishes_total", "Valid publishes received from the broker.")
	m.slow = counter(f, "pushpoll_slow_disconnects_total", "Sockets closed because a write missed its deadline.")
	m.grantsRevoked = counter(f, "pushpoll_grants_revoked_total", "Topic grants ended because the token key that verified them was removed by a reload.")
	m.modeChanges = counter(f, "pushpoll_mode_changes_total", "Feature flag changes applied.")
	m.rejected = counterVec(f, "pushpoll_publishes_rejected_total", "Publishes dropped, by reason.", "reason")
	m.authDenied = counterVec(f, "pushpoll_auth_denied_total", "Subscribes refused whole or in part, once per subscribe and reason.", "reason")
	m.wireRejected = counterVec(f, "pushpoll_wire_rejected_total", "Requests and frames refused before socket.io saw them, by reason.", "reason")
	m.forwarded = counterVec(f, "pushpoll_forwarded_requests_total", "Polling requests for another node's session, by outcome: ok (the owner answered), unknown node, lookup failed, unreachable.", "result")
	m.shadow = counterVec(f, "pushpoll_shadow_reports_total", "Shadow-mode hint accuracy reported by clients: hit (hint then change), false (hint, no change), missed (change, no hint).", "outcome")
	m.keyReloads = counterVec(f, "pushpoll_token_key_reloads_total", "Token key reloads (SIGHUP), by result: ok or failed (the old keys stay).", "result")
	m.shadowIgnored = counterVec(f, "pushpoll_shadow_reports_ignored_total", "Shadow reports not counted, by reason: not in shadow mode, topic not held, rate limited (per socket), credential rate limited (per credential, across its sockets), bad report.", "reason")
	m.linkTransitions = counterVec(f, "pushpoll_broker_link_changes_total", "Broker link going down or up.", "state")
	m.secretReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pushpoll_secret_file_reloads_total",
		Help: "Secret and key files read again after a change, by flag and result: ok, or failed (unreadable or refused; the value in use stays)."}, []string{"flag", "result"})
	f(m.secretReloads)
	m.latency = histogram(f, "pushpoll_publish_to_emit_seconds", "From the publisher's ts to the hint being handed to the socket.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5})
	m.shadowLead = histogram(f, "pushpoll_shadow_lead_seconds", "How much earlier a hint came than the poll that found its change (shadow mode).",
		[]float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60})
	m.drainSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "pushpoll_drain_seconds", Help: "Duration of the last drain."})
	f(m.drainSeconds)
	m.protocols = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pushpoll_sockets_by_protocol",
		Help: "Connected sockets by the protocol their client speaks: eio3 (socket.io 2) or eio4 (socket.io 3 and 4)."}, []string{"protocol"})
	f(m.protocols)
	m.opsMetrics = newOpsMetrics(f, s)
	m.startAtZero()
	return m
}

func counter(f func(prometheus.Collector), name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f(c)
	return c
}

func counterVec(f func(prometheus.Collector), name, help, label string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	f(c)
	return c
}

func histogram(f func(prometheus.Collector), name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f(h)
	return h
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
