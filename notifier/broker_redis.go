package notifier

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
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
	URL    string // redis:// or rediss:// (one server) or redis-sentinel:// (redisx.Parse)
	Prefix string // channel and key prefix, default "pushpoll:"
	Logger *slog.Logger

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
	// kick ends the subscriber session, or its backoff, at once: Sentinel
	// announced a new master (broker_sentinel.go). Cap 1, coalesced.
	kick chan struct{}
	// master is the address the live subscriber session is connected to,
	// switchedTo the master Sentinel last announced.
	master, switchedTo atomic.Value // string

	wantSet
	dirty chan struct{} // cap 1: "want changed", coalesced

	up         atomic.Bool
	Reconnects atomic.Int64
	// CanaryLag is the last canary's publish-to-receive time.
	CanaryLag atomic.Int64 // nanoseconds
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
	b := &RedisBroker{
		opt:    opt,
		url:    u,
		kick:   make(chan struct{}, 1),
		log:    opt.Logger.With("component", "redis"),
		script: redis.NewScript(1, PublishScript),
		dirty:  make(chan struct{}, 1),
	}
	b.wantSet = newWantSet(opt.Linger, func(string) { b.markDirty() })
	b.master.Store("")
	b.switchedTo.Store("")
	b.pools.Store(newPool(func() (redis.Conn, error) {
		conn, _, err := b.dial(context.Background(), 5*time.Second)
		return conn, err
	}))
	return b, nil
}

// newPool is the pool for publishes and version-table reads.
func newPool(dial func() (redis.Conn, error)) *redis.Pool {
	return &redis.Pool{
		// Every connection the cap allows stays warm and kept alive: with
		// fewer idle than active, a burst (the subscribes of a reconnect
		// storm each read the version table) closed the extra connections as
		// it returned them and dialled them again at its next peak, a tenth
		// of a storm's CPU. Wait with the cap makes a burst queue for a
		// connection instead of opening hundreds.
		MaxIdle:     32,
		MaxActive:   32,
		Wait:        true,
		IdleTimeout: 4 * time.Minute,
		Dial:        dial,
		TestOnBorrow: func(c redis.Conn, idleSince time.Time) error {
			if time.Since(idleSince) < time.Minute {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
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
func (b *RedisBroker) Up() bool { return b.up.Load() }

// Close releases the publish pool. Safe to call twice.
func (b *RedisBroker) Close() error { return b.pools.Load().Close() }

// WaitSubscribed returns once Redis has applied the SUBSCRIBE of every
// topic on the live link (wantSet.waitConfirmed).
// steady: one subscriber connection carries every channel, and losing or
// replacing it (a Sentinel switch included) is a link change.
func (b *RedisBroker) steady() {}

func (b *RedisBroker) WaitSubscribed(ctx context.Context, topics []string) error {
	return b.waitConfirmed(ctx, topics, b.up.Load)
}

func (b *RedisBroker) markDirty() {
	select {
	case b.dirty <- struct{}{}:
	default:
	}
}

// withConn runs f on a pooled connection. After a Redis restart the pool
// still holds connections to the old process, so a network error gets one
// more try on a fresh connection; a reply error from Redis does not. Every
// caller is safe to repeat: the publish script only ever raises a version.
func (b *RedisBroker) withConn(ctx context.Context, f func(redis.Conn) error) error {
	return withPooled(ctx, b.pools.Load(), f)
}

// withPooled is withConn for any pool.
func withPooled(ctx context.Context, pool *redis.Pool, f func(redis.Conn) error) error {
	var err error
	for try := 0; try < 2; try++ {
		var conn redis.Conn
		conn, err = pool.GetContext(ctx)
		if err != nil {
			return err
		}
		err = f(conn)
		conn.Close() // a connection that failed is discarded, not pooled
		var replyErr redis.Error
		if err == nil || errors.As(err, &replyErr) || ctx.Err() != nil {
			return err
		}
	}
	return err
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
		n, err := redis.Int(b.script.DoContext(ctx, conn, key, v, payload))
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

// Run keeps a subscriber link alive until ctx ends: connect, subscribe to
// every wanted channel, deliver, and on any failure report the link down
// and try again after a capped, jittered delay. It never gives up.
func (b *RedisBroker) Run(ctx context.Context, h BrokerHandler) {
	if b.url.Kind == redisx.Sentinel {
		go b.watchSentinels(ctx)
	}
	backoff := b.opt.BackoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := b.session(ctx, h)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 30*time.Second {
			backoff = b.opt.BackoffMin // it was a healthy link, not a flapping one
		}
		delay := backoff/2 + rand.N(backoff/2+1)
		b.log.Warn("redis link lost, reconnecting", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		case <-b.kick: // a new master was announced: no point waiting
		}
		backoff = min(2*backoff, b.opt.BackoffMax)
		b.Reconnects.Add(1)
	}
}

// session runs one subscriber connection, following redigo's pub/sub
// example: a receive goroutine that returns on error, a ping loop whose
// period is shorter than the read timeout, and unsubscribe then wait on the
// way out.
func (b *RedisBroker) session(ctx context.Context, h BrokerHandler) error {
	conn, addr, err := b.dial(ctx, b.opt.ReadTimeout)
	if err != nil {
		return err
	}
	b.master.Store(addr)
	defer b.master.Store("")
	psc := redis.PubSubConn{Conn: conn}

	// Pongs carry markers: a marker coming back proves every SUBSCRIBE sent
	// before it was applied (Redis answers a connection in order).
	// Pong markers confirm subscriptions, so they must not be dropped; the
	// receiver blocks on them until the session ends (stop).
	pongs := make(chan string, 16)
	stop := make(chan struct{})
	canaries := make(chan string, 4)
	done := make(chan error, 1)
	flagChannel, canaryChannel := b.FlagKey(), b.canaryChannel()
	var delivered atomic.Int64 // unix ns of the last message of any kind
	go func() {
		for {
			switch m := psc.Receive().(type) {
			case redis.Message:
				delivered.Store(time.Now().UnixNano())
				switch m.Channel {
				case flagChannel:
					h.Flag(string(m.Data))
				case canaryChannel:
					select {
					case canaries <- string(m.Data):
					default:
					}
				default:
					h.Message(strings.TrimPrefix(m.Channel, b.opt.Prefix), m.Data)
				}
			case redis.Pong:
				select {
				case pongs <- m.Data:
				case <-stop:
				}
			case error:
				done <- m
				return
			}
		}
	}()

	wasUp := false
	defer func() {
		close(stop)
		conn.Close()
		<-done
		b.confirm(nil)
		if wasUp {
			b.up.Store(false)
			h.Link(false)
		}
	}()

	if err := psc.Subscribe(flagChannel, canaryChannel); err != nil {
		return err
	}
	have := make(map[string]bool)
	if _, err := b.sync(psc, have); err != nil {
		return err
	}
	// Ready only once every held topic is subscribed again: a node that
	// reports ready with half its channels would silently miss bumps.
	if err := psc.Ping("synced"); err != nil {
		return err
	}
	if err := awaitPong(ctx, done, pongs, "synced", b.opt.ReadTimeout); err != nil {
		return err
	}
	confirmedAll := make([]string, 0, len(have))
	for t := range have {
		confirmedAll = append(confirmedAll, t)
	}
	b.confirm(confirmedAll)
	wasUp = true
	b.up.Store(true)
	b.log.Info("redis link up", "topics", len(have), "server", addr)
	h.Link(true)
	// The flag may have changed while this node was away; the key holds it.
	go b.readFlag(h)

	ping := time.NewTicker(b.opt.PingEvery)
	defer ping.Stop()
	canaryTick := time.NewTicker(b.opt.CanaryEvery)
	defer canaryTick.Stop()
	var canarySent time.Time // zero: no canary in flight
	canarySeq := 0
	// awaiting maps a PING marker to the topics subscribed just before it.
	awaiting := map[string][]string{}
	marker := 0
	for {
		select {
		case <-ctx.Done():
			_ = psc.Unsubscribe()
			return ctx.Err()
		case err := <-done:
			done <- err
			return err
		case <-b.kick:
			if to := b.switchedTo.Load().(string); to != addr {
				return fmt.Errorf("sentinel switched the master from %s to %s", addr, to)
			}
		case <-b.dirty:
			added, err := b.sync(psc, have)
			if err != nil {
				return err
			}
			if len(added) > 0 {
				marker++
				m := "sub:" + strconv.Itoa(marker)
				awaiting[m] = added
				if err := psc.Ping(m); err != nil {
					return err
				}
			}
		case <-ping.C:
			if !canarySent.IsZero() && time.Since(canarySent) > b.opt.CanaryTimeout {
				if delivered.Load() < canarySent.UnixNano() {
					return errors.New("canary not received back: link open but not delivering")
				}
				canarySent = time.Time{} // late, but the link delivers
			}
			if err := psc.Ping(""); err != nil {
				return err
			}
		case <-canaryTick.C:
			if canarySent.IsZero() {
				canarySeq++
				canarySent = time.Now()
				go b.publishCanary(canaryChannel, strconv.Itoa(canarySeq))
			}
		case c := <-canaries:
			if c == strconv.Itoa(canarySeq) && !canarySent.IsZero() {
				b.CanaryLag.Store(int64(time.Since(canarySent)))
				canarySent = time.Time{}
			}
		case p := <-pongs:
			if topics, ok := awaiting[p]; ok {
				delete(awaiting, p)
				b.confirm(topics)
			}
		}
	}
}

// publishCanary sends one canary through the publish pool, the same path
// the app's bumps take to Redis.
func (b *RedisBroker) publishCanary(channel, seq string) {
	ctx, cancel := context.WithTimeout(context.Background(), b.opt.CanaryTimeout)
	defer cancel()
	_ = b.withConn(ctx, func(conn redis.Conn) error {
		_, err := redis.DoContext(conn, ctx, "PUBLISH", channel, seq)
		return err
	})
}

func (b *RedisBroker) readFlag(h BrokerHandler) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mode string
	err := b.withConn(ctx, func(conn redis.Conn) (err error) {
		mode, err = redis.String(redis.DoContext(conn, ctx, "GET", b.FlagKey()))
		return err
	})
	if err == nil && mode != "" {
		h.Flag(mode)
	}
}

// SetFlag stores the feature flag and announces it to every node.
func (b *RedisBroker) SetFlag(ctx context.Context, mode string) error {
	return b.withConn(ctx, func(conn redis.Conn) error {
		if _, err := redis.DoContext(conn, ctx, "SET", b.FlagKey(), mode); err != nil {
			return err
		}
		_, err := redis.DoContext(conn, ctx, "PUBLISH", b.FlagKey(), mode)
		return err
	})
}

// subscribeBatch bounds one SUBSCRIBE command's argument count.
const subscribeBatch = 1000

// sync brings the connection's subscriptions in line with want and returns
// the topics it subscribed.
func (b *RedisBroker) sync(psc redis.PubSubConn, have map[string]bool) ([]string, error) {
	b.mu.Lock()
	var added []string
	var add, drop []any
	for t := range b.want {
		if !have[t] {
			added = append(added, t)
			add = append(add, b.opt.Prefix+t)
			have[t] = true
		}
	}
	for t := range have {
		if _, ok := b.want[t]; !ok {
			drop = append(drop, b.opt.Prefix+t)
			delete(have, t)
			delete(b.confirmed, t)
		}
	}
	b.mu.Unlock()
	for start := 0; start < len(add); start += subscribeBatch {
		if err := psc.Subscribe(add[start:min(start+subscribeBatch, len(add))]...); err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
	}
	for start := 0; start < len(drop); start += subscribeBatch {
		if err := psc.Unsubscribe(drop[start:min(start+subscribeBatch, len(drop))]...); err != nil {
			return nil, fmt.Errorf("unsubscribe: %w", err)
		}
	}
	return added, nil
}

// awaitPong waits until the subscriber reads the PING reply carrying marker:
// Redis answers commands in order, so every SUBSCRIBE sent before that PING
// has been applied. done carries the receiver's error and is refilled for
// the session's other readers.
func awaitPong(ctx context.Context, done chan error, pongs <-chan string, marker string, limit time.Duration) error {
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			done <- err
			return err
		case p := <-pongs:
			if p == marker {
				return nil
			}
		case <-timeout.C:
			return errors.New("subscribe not confirmed in time")
		}
	}
}
