// Package busfeed is the Redis side of the benchmark peers (the floor probe
// and the naive go-socket.io server): one pattern subscription to every
// pushpoll channel, kept up by a supervisor loop, handing each bump to the
// server as (topic, version).
//
//	redis-server ── PSUBSCRIBE <prefix>* ──► Run ──► onBump(topic, v)
//
// A pattern subscription is the simplest thing a peer can do; it means every
// peer node receives every publish, which is fine for the fan-out scenarios
// the peers run in (one topic) and is one reason pushpoll's own notifier
// subscribes per topic instead.
package busfeed

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Run keeps a PSUBSCRIBE to prefix+"*" on redisURL until ctx ends, calling
// onBump on the receiving goroutine for every well-formed message. A peer
// that wants the receive loop to keep reading while it fans out must hand
// the work to another goroutine itself.
func Run(ctx context.Context, log *slog.Logger, redisURL, prefix string, onBump func(topic string, v int64)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := session(ctx, redisURL, prefix, onBump)
		if ctx.Err() != nil {
			return
		}
		log.Warn("redis subscription lost", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		// A bench peer only needs to come back; 2 s caps a restart of Redis.
		backoff = min(2*backoff, 2*time.Second)
	}
}

// healthEvery is the PING period on the subscriber connection; the read
// timeout is twice that, so a silent link fails instead of hanging.
const healthEvery = 5 * time.Second

func session(ctx context.Context, redisURL, prefix string, onBump func(string, int64)) error {
	c, err := redis.DialURLContext(ctx, redisURL,
		redis.DialReadTimeout(2*healthEvery), redis.DialWriteTimeout(time.Second))
	if err != nil {
		return err
	}
	psc := redis.PubSubConn{Conn: c}
	defer psc.Close()
	if err := psc.PSubscribe(prefix + "*"); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		for {
			switch m := psc.ReceiveWithTimeout(2 * healthEvery).(type) {
			case redis.Message:
				if len(m.Channel) <= len(prefix) {
					continue
				}
				if v, ok := ParseVersion(m.Data); ok {
					onBump(m.Channel[len(prefix):], v)
				}
			case error:
				done <- m
				return
			}
		}
	}()
	tick := time.NewTicker(healthEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			_ = psc.PUnsubscribe()
			return ctx.Err()
		case <-tick.C:
			if err := psc.Ping(""); err != nil {
				return err
			}
		}
	}
}

// errNoVersion: the payload has no "v". ParseVersion turns every error into
// ok=false, since a bench peer has no use for the reason.
var errNoVersion = errors.New("no version")

// ParseVersion reads the "v" of a payload {"v":N,...} or a bare integer,
// without allocating: the fields are scanned, not decoded.
func ParseVersion(p []byte) (int64, bool) {
	v, err := parseVersion(p)
	return v, err == nil && v >= 0
}

func parseVersion(p []byte) (int64, error) {
	i := 0
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	if i < len(p) && p[i] != '{' {
		return strconv.ParseInt(string(trimSpace(p[i:])), 10, 64)
	}
	// Find the key "v" at the top level of a flat object.
	for ; i+3 < len(p); i++ {
		if p[i] == '"' && p[i+1] == 'v' && p[i+2] == '"' {
			j := i + 3
			for j < len(p) && (p[j] == ' ' || p[j] == ':') {
				j++
			}
			k := j
			for k < len(p) && p[k] >= '0' && p[k] <= '9' {
				k++
			}
			if k == j {
				return 0, errNoVersion
			}
			return strconv.ParseInt(string(p[j:k]), 10, 64)
		}
	}
	return 0, errNoVersion
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
