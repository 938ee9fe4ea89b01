package notifier

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpoll/pushpoll/authbridge"
)

// transports are the socket.io transports a socket may be on.
var transports = []string{"websocket", "polling"}

// Results of POST /v1/publish, the label of pushpoll_http_publish_requests_total.
const (
	publishAccepted     = "accepted"
	publishUnauthorized = "unauthorized"
	publishOff          = "off"
	publishTooLarge     = "too_large"
	publishBadRequest   = "bad_request"
	publishUnavailable  = "unavailable"
)

// opsMetrics are the families an operator's dashboard and alerts read
// (deploy/grafana, deploy/prometheus): every labelled counter has each of
// its label values from the start, so rate() and absent-series alerts work
// before the first event.
type opsMetrics struct {
	disconnects     *prometheus.CounterVec
	handshakes      *prometheus.CounterVec
	publishRequests *prometheus.CounterVec
	publishSeconds  prometheus.Histogram
	callbacks       *prometheus.CounterVec
	callbackSeconds prometheus.Histogram
}

// requestBuckets span a Redis round trip (sub-millisecond) to the 2 s
// callback timeout and a publish stuck behind a failing link.
var requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

func newOpsMetrics(f func(prometheus.Collector), s *Server) opsMetrics {
	var m opsMetrics
	m.disconnects = counterVec(f, "pushpoll_disconnects_total", "Sockets closed, by reason (notifier/disconnect.go).", "reason")
	for r := range numDisconnectReasons {
		m.disconnects.WithLabelValues(r.String())
	}
	m.handshakes = counterVec(f, "pushpoll_handshakes_total", "Sockets connected (socket.io CONNECT done), by the transport they started on.", "transport")
	for _, t := range transports {
		m.handshakes.WithLabelValues(t)
	}
	m.publishRequests = counterVec(f, "pushpoll_http_publish_requests_total", "POST /v1/publish requests, by result: accepted, unauthorized, off, too_large, bad_request, unavailable.", "result")
	for _, r := range []string{publishAccepted, publishUnauthorized, publishOff, publishTooLarge, publishBadRequest, publishUnavailable} {
		m.publishRequests.WithLabelValues(r)
	}
	m.publishSeconds = histogram(f, "pushpoll_http_publish_duration_seconds", "Time to answer POST /v1/publish, body read and Redis included.", requestBuckets)
	m.callbacks = counterVec(f, "pushpoll_auth_callback_requests_total", "Requests to --auth-callback-url, by result: ok, denied, failed, bad_answer, timeout, unreachable.", "result")
	for _, r := range authbridge.CallbackResults {
		m.callbacks.WithLabelValues(r)
	}
	m.callbackSeconds = histogram(f, "pushpoll_auth_callback_duration_seconds", "Round trip of a request to --auth-callback-url.", requestBuckets)
	f(transportCollector{s})
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_ready", Help: "1 while /readyz answers 200: not draining, broker link up."},
		func() float64 { return b2f(s.ready() == "") }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pushpoll_max_sockets", Help: "--max-sockets, 0 for no limit: the cap the socket gauge is compared with."},
		func() float64 { return float64(s.cfg.MaxSockets) }))
	return m
}

func (m opsMetrics) callbackDone(result string, took time.Duration) {
	m.callbacks.WithLabelValues(result).Inc()
	m.callbackSeconds.Observe(took.Seconds())
}

var socketsByTransportDesc = prometheus.NewDesc("pushpoll_sockets_by_transport",
	"Connected sockets, by the transport they are on now.", []string{"transport"}, nil)

// transportCollector counts sockets by transport at scrape time: a socket
// moves from polling to websocket when it upgrades, which no event tells
// the notifier.
type transportCollector struct{ s *Server }

func (c transportCollector) Describe(ch chan<- *prometheus.Desc) { ch <- socketsByTransportDesc }

func (c transportCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	c.s.hub.eachSocket(func(sk *socket) { counts[sk.transport()]++ })
	for _, t := range transports {
		ch <- prometheus.MustNewConstMetric(socketsByTransportDesc, prometheus.GaugeValue, float64(counts[t]), t)
	}
}

// startAtZero gives the older labelled counters every label value they
// are known to take, so that they too are exported before their first
// event. Label values built from other packages' errors are listed from
// those errors, so a renamed error renames its series.
func (m *metrics) startAtZero() {
	payloadReasons := []string{"other"}
	for _, err := range []error{ErrPayloadTooLarge, ErrBadJSON, ErrBadVersion, ErrMissingVersion, ErrBadTopic, ErrReservedTopic} {
		payloadReasons = append(payloadReasons, err.Error())
	}
	for _, r := range payloadReasons {
		m.rejected.WithLabelValues(r)
		m.rejected.WithLabelValues("http " + r)
	}
	denied := []string{"rate limited", "too many topics", "invalid topic", errNodeTopics.Error(), errPrefixTopics.Error()}
	for _, err := range []error{authbridge.ErrNoToken, authbridge.ErrMalformedToken, authbridge.ErrBadSignature, authbridge.ErrExpired,
		authbridge.ErrNotYetValid, authbridge.ErrWrongAudience, authbridge.ErrMissingClaim, authbridge.ErrNotInToken,
		authbridge.ErrNotAuthorized, authbridge.ErrAuthUnavailable} {
		denied = append(denied, err.Error())
	}
	for _, r := range denied {
		m.authDenied.WithLabelValues(r)
	}
	for _, o := range []string{"hit", "false", "missed"} {
		m.shadow.WithLabelValues(o)
	}
	for _, r := range []string{"not in shadow mode", "rate limited", "bad report", "topic not held"} {
		m.shadowIgnored.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.keyReloads.WithLabelValues(r)
	}
	for _, st := range []string{"up", "down"} {
		m.linkTransitions.WithLabelValues(st)
	}
}
