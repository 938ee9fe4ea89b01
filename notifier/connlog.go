package notifier

import (
	"context"
	"log/slog"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// Per-connection debug lines: one at connect, one per subscribe, one at
// disconnect. Any client can cause them at will, so they go through a
// rate limiter (s.debug) keyed by event and outcome, which keeps a sample
// of each kind with a count of what it held back.
//
// Both addresses are logged: remote, the socket's peer (behind a balancer,
// the balancer), and client, the address internal/clientip resolved
// (X-Forwarded-For from --trusted-proxies only).

// debugEvery is the gap between two debug lines of one kind: a hundred a
// second is enough to follow a handful of clients by hand, and bounded
// when a storm reconnects thousands.
const debugEvery = 10 * time.Millisecond

func (s *Server) debugOn() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// connected records a new socket: its handshake counted, its start time and
// connection kept for the disconnect line and metrics.
func (s *Server) connected(sk *socket, c socketio.Conn) {
	sk.wire, sk.since = c, time.Now()
	transport := c.Transport()
	s.m.handshakes.WithLabelValues(transport).Inc()
	if s.debugOn() {
		s.debug.Log(slog.LevelDebug, "connect", "socket connected",
			slog.String("sid", sk.id), slog.String("transport", transport), slog.String("remote", c.RemoteAddr()),
			slog.String("client", c.Header().Get(clientHeader)))
	}
}

// disconnected counts and logs why sk ended.
func (s *Server) disconnected(sk *socket) {
	reason := s.disconnectReason(sk)
	s.m.disconnects.WithLabelValues(reason.String()).Inc()
	if !s.debugOn() {
		return
	}
	attrs := []slog.Attr{slog.String("sid", sk.id), slog.String("reason", reason.String()),
		slog.Int64("connected_ms", time.Since(sk.since).Milliseconds())}
	if sk.wire != nil {
		attrs = append(attrs, slog.String("transport", sk.wire.Transport()), slog.String("remote", sk.wire.RemoteAddr()))
		if err := sk.wire.Err(); err != nil && reason != DisconnectClientClosed {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
	}
	s.debug.Log(slog.LevelDebug, "disconnect "+reason.String(), "socket disconnected", attrs...)
}

// subscribed logs one subscribe's outcome: topics granted, and denied ones
// with their reasons (bounded: a subscribe may name a thousand topics).
func (s *Server) subscribed(sk *socket, ack subscribeAck) {
	if !s.debugOn() {
		return
	}
	const maxListed = 20
	denied := make(map[string]string, min(len(ack.Denied), maxListed))
	for t, r := range ack.Denied {
		if len(denied) == maxListed {
			break
		}
		denied[truncate(t, 64)] = r
	}
	granted := ack.Granted[:min(len(ack.Granted), maxListed)]
	key, msg := "subscribe granted", "subscribe granted"
	switch {
	case ack.Error != "":
		key, msg = "subscribe refused", "subscribe refused"
	case len(ack.Granted) == 0:
		key, msg = "subscribe denied", "subscribe denied"
	}
	s.debug.Log(slog.LevelDebug, key, msg, slog.String("sid", sk.id),
		slog.Int("granted", len(ack.Granted)), slog.Any("topics", granted),
		slog.Int("denied", len(ack.Denied)), slog.Any("reasons", denied), slog.String("error", ack.Error))
}

// brokerName is the broker's name in logs: local, redis or cluster.
func brokerName(b Broker) string {
	switch b.(type) {
	case *LocalBroker:
		return "local"
	case *ClusterBroker:
		return "cluster"
	case *RedisBroker:
		return "redis"
	}
	return "other"
}
