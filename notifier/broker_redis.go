package notifier

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// PublishScript is the Lua script apps run to publish: SET-if-greater on the
// topic's key plus PUBLISH on its channel, in one round trip. The publish
// helpers under scripts/publish embed the same text.
//
//go:embed publish.lua
var PublishScript string

// RedisOptions tunes the Redis broker. Zero values take the defaults noted.
type RedisOptions struct {
	URL string // redis:// or rediss:// (one server) or redis-sentinel:// (redisx.Parse)
	// Creds, when set, are the URL's credentials as they change at run time
	// (--redis-url-file, --redis-password-file).
	Creds *redisx.Credentials
	// TLSConfig and SentinelCreds are --redis-tls-* and
	// --redis-sentinel-password-file (redisx.URL).
	TLSConfig     *tls.Config
	SentinelCreds *redisx.Credentials
	// VersionTTL, when positive, expires each version key that long after
	// its last raise (--version-ttl; publish.lua's ARGV[4]).
	VersionTTL time.Duration
	Prefix     string // channel and key prefix, default "pushpoll:"
	Logger     *slog.Logger

	// PingEvery is how often the subscriber connection is probed, default
	// 1s. ReadTimeout, default 3×PingEvery, must exceed it: a link that has
	// not answered a PING within ReadTimeout is dead even if its socket is
	// open (a frozen or failed-over server).
	PingEvery   time.Duration
	ReadTimeout time.Duration
	// Linger keeps a Redis subscription for a while after the last local
	// holder left, default 5s, so a page reload does not cost an
	// UNSUBSCRIBE and a SUBSCRIBE.
	Linger time.Duration
	// CanaryEvery is how often the node publishes on its own canary
	// channel, default 5s. A canary not back within CanaryTimeout, default
	// 5s, while no other message arrived either, means the link is open but
	// not delivering (a proxy that failed over to a server without our
	// subscriptions) and counts as lost. Any message counts as delivery: on
	// a node saturated by fan-out the canary may queue behind thousands of
	// bumps, and declaring that link lost would only add a resync's load.
	CanaryEvery, CanaryTimeout time.Duration
	// NodeID names this node's canary channel; random when empty.
	NodeID string
	// BackoffMin and BackoffMax bound the jittered reconnect delay, default
	// 100ms and 5s: short enough to recover quickly, capped so a long outage
	// costs one attempt every few seconds per node.
	BackoffMin, BackoffMax time.Duration
}

// RedisBroker is the Redis PUB/SUB broker. One dedicated connection
// subscribes to the channels of every topic with a local holder; a small
// pool serves publishes and version-table reads.
type RedisBroker struct {
	opt    RedisOptions
	url    redisx.URL
	log    *slog.Logger
	pools  atomic.Pointer[redis.Pool] // replaced whole when Sentinel switches master
	script *redis.Script
	// switchedTo is the master Sentinel last announced (broker_sentinel.go).
	switchedTo atomic.Value // string

	wantSet
	redisKeys
	link *subscriber // the one subscriber connection
}

// FlagKey returns the key and channel that carry the feature flag,
// pushpoll:#mode for the default prefix. '#' is outside the topic alphabet,
// so no topic's key or channel (prefix + topic) can ever be this one: the
// publish secret, a publish helper or the app's own script can raise
// versions but never set the flag.
func (b *RedisBroker) FlagKey() string { return FlagKey(b.opt.Prefix) }

// FlagKey is the feature flag's key and channel for a channel prefix.
func FlagKey(prefix string) string { return prefix + "#mode" }

// canaryChannel lies outside the topic namespace for every valid prefix
// ('#', see ValidPrefix), so no topic can ever collide with it.
func (b *RedisBroker) canaryChannel() string { return nodeKeyPrefix + "canary:" + b.opt.NodeID }

var _ Broker = (*RedisBroker)(nil)

// withDefaults fills every zero option with its default.
func (opt RedisOptions) withDefaults() RedisOptions {
	if opt.Prefix == "" {
		opt.Prefix = "pushpoll:"
	}
	if opt.PingEvery <= 0 {
		opt.PingEvery = time.Second
	}
	if opt.ReadTimeout <= opt.PingEvery {
		opt.ReadTimeout = 3 * opt.PingEvery
	}
	if opt.Linger <= 0 {
		opt.Linger = 5 * time.Second
	}
	if opt.BackoffMin <= 0 {
		opt.BackoffMin = 100 * time.Millisecond
	}
	if opt.BackoffMax < opt.BackoffMin {
		opt.BackoffMax = 5 * time.Second
	}
	if opt.CanaryEvery <= 0 {
		opt.CanaryEvery = 5 * time.Second
	}
	if opt.CanaryTimeout <= 0 {
		opt.CanaryTimeout = 5 * time.Second
	}
	if opt.NodeID == "" {
		opt.NodeID = strconv.FormatUint(rand.Uint64(), 36)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return opt
}

// NewRedisBroker checks the URL and returns a broker; it connects in Run.
func NewRedisBroker(opt RedisOptions) (*RedisBroker, error) {
	opt = opt.withDefaults()
	u, err := redisx.Parse(opt.URL)
	if err != nil {
		return nil, err
	}
	if u.Kind == redisx.Cluster {
		return nil, errors.New("a redis-cluster:// URL needs the cluster broker")
	}
	u.Creds, u.TLSConfig, u.SentinelCreds = opt.Creds, opt.TLSConfig, opt.SentinelCreds
	b := &RedisBroker{
		opt:    opt,
		url:    u,
		log:    opt.Logger.With("component", "redis"),
		script: redis.NewScript(1, PublishScript),
	}
	b.redisKeys = redisKeys{
		on:      func(ctx context.Context, _ string, f func(redis.Conn) error) error { return b.withConn(ctx, f) },
		publish: "PUBLISH", flagKey: FlagKey(opt.Prefix), canaryTimeout: opt.CanaryTimeout,
	}
	b.link = newSubscriber("redis", opt, b.log, false, &b.wantSet, b)
	// A new master announced by Sentinel ends the session, or its backoff,
	// at once (broker_sentinel.go).
	b.link.kick = make(chan struct{}, 1)
	b.wantSet = newWantSet(opt.Linger, func(string) { b.link.markDirty() })
	b.switchedTo.Store("")
	b.pools.Store(redisx.NewPool(func() (redis.Conn, error) {
		conn, _, err := b.dial(context.Background(), 5*time.Second)
		return conn, err
	}))
	return b, nil
}

// dial connects to the server, or to the master the sentinels name now;
// it returns the address it reached.
func (b *RedisBroker) dial(ctx context.Context, readTimeout time.Duration) (redis.Conn, string, error) {
	if b.url.Kind == redisx.Sentinel {
		return b.url.DialMaster(ctx, readTimeout)
	}
	conn, err := redis.DialContext(ctx, "tcp", b.url.Addrs[0], b.url.DialOptions(readTimeout)...)
	return conn, b.url.Addrs[0], err
}

// Up reports whether the subscriber link is live and fully subscribed.
func (b *RedisBroker) Up() bool { return b.link.up.Load() }

// Close releases the publish pool. Safe to call twice.
func (b *RedisBroker) Close() error { return b.pools.Load().Close() }

// WaitSubscribed returns once Redis has applied the SUBSCRIBE of every
// topic on the live link (wantSet.waitConfirmed).
func (b *RedisBroker) WaitSubscribed(ctx context.Context, topics []string) error {
	return b.waitConfirmed(ctx, topics, b.link.up.Load)
}

// withConn runs f on a pooled connection (redisx.WithPooled). Every caller
// is safe to repeat: the publish script only ever raises a version.
func (b *RedisBroker) withConn(ctx context.Context, f func(redis.Conn) error) error {
	return redisx.WithPooled(ctx, b.pools.Load(), f)
}

func (b *RedisBroker) Publish(ctx context.Context, topic string, v, ts int64) (bool, error) {
	key, payload := b.opt.Prefix+topic, encodeBump(v, ts)
	raised := false
	err := b.withConn(ctx, func(conn redis.Conn) error {
		if v == 0 {
			// "Poll to be sure" is an announcement, not a version: it must
			// not touch the version table.
			_, err := redis.DoContext(conn, ctx, "PUBLISH", key, payload)
			raised = err == nil
			return err
		}
		n, err := redis.Int(b.script.DoContext(ctx, conn, append([]any{key, v, payload}, ttlArgs("PUBLISH", b.opt.VersionTTL)...)...))
		raised = n == 1
		return err
	})
	return raised, err
}

// mgetBatch bounds one MGET: a node may hold tens of thousands of topics,
// and one huge reply would hold the connection for too long.
const mgetBatch = 1000

func (b *RedisBroker) Versions(ctx context.Context, topics []string) (map[string]int64, error) {
	out := make(map[string]int64, len(topics))
	for start := 0; start < len(topics); start += mgetBatch {
		batch := topics[start:min(start+mgetBatch, len(topics))]
		keys := make([]any, len(batch))
		for i, t := range batch {
			keys[i] = b.opt.Prefix + t
		}
		var vals []string
		err := b.withConn(ctx, func(conn redis.Conn) (err error) {
			vals, err = redis.Strings(redis.DoContext(conn, ctx, "MGET", keys...))
			return err
		})
		if err != nil {
			return nil, err
		}
		for i, s := range vals {
			// A key that is missing or not a version (someone else's data)
			// tells us nothing.
			if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 {
				out[batch[i]] = v
			}
		}
	}
	return out, nil
}

// Run keeps the subscriber link alive until ctx ends (subscriber.run).
func (b *RedisBroker) Run(ctx context.Context, h BrokerHandler) {
	if b.url.Kind == redisx.Sentinel {
		go b.watchSentinels(ctx)
	}
	b.link.run(ctx, h)
}

// The subscriberOwner side of the one link: it serves every topic, and
// its going down or up is the whole node's.

func (b *RedisBroker) dialSubscriber(ctx context.Context) (redis.Conn, string, error) {
	return b.dial(ctx, b.opt.ReadTimeout)
}

func (b *RedisBroker) fixedChannels() (string, string, error) {
	return b.FlagKey(), b.canaryChannel(), nil
}

func (b *RedisBroker) serves(string) bool { return true }

func (b *RedisBroker) kicked(addr string) error {
	if to := b.switchedTo.Load().(string); to != addr {
		return fmt.Errorf("sentinel switched the master from %s to %s", addr, to)
	}
	return nil
}

func (b *RedisBroker) linkUp(_ []string, h BrokerHandler) {
	h.Link(LinkEvent{Up: true})
	// The flag may have changed while this node was away; the key holds it.
	go b.readFlag(h)
}

func (b *RedisBroker) confirmed([]string) {}
func (b *RedisBroker) moved([]string)     {}
func (b *RedisBroker) sessionFailed()     {}

func (b *RedisBroker) linkDown(_ []string, _ bool, h BrokerHandler) { h.Link(LinkEvent{}) }
