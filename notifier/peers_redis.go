package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// keyRunner is a Redis broker that can run a command on a connection that
// serves a key: any connection for one server, the slot's master in a
// cluster.
type keyRunner interface {
	onKey(ctx context.Context, key string, f func(redis.Conn) error) error
}

var (
	_ keyRunner = (*RedisBroker)(nil)
	_ keyRunner = (*ClusterBroker)(nil)
)

func (b *RedisBroker) onKey(ctx context.Context, _ string, f func(redis.Conn) error) error {
	return b.withConn(ctx, f)
}

func (b *ClusterBroker) onKey(ctx context.Context, key string, f func(redis.Conn) error) error {
	return b.doKey(ctx, key, func(c redis.Conn, _ bool) error { return f(c) })
}

// redisPeers keeps the advertisements in the broker's Redis.
type redisPeers struct{ r keyRunner }

var _ peerStore = redisPeers{}

func (p redisPeers) advertise(ctx context.Context, node, url string, ttl time.Duration) error {
	key := peerKeyPrefix + node
	return p.r.onKey(ctx, key, func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "SET", key, url, "PX", ttl.Milliseconds())
		return err
	})
}

func (p redisPeers) withdraw(ctx context.Context, node string) error {
	key := peerKeyPrefix + node
	return p.r.onKey(ctx, key, func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "DEL", key)
		return err
	})
}

func (p redisPeers) lookup(ctx context.Context, node string) (string, error) {
	key := peerKeyPrefix + node
	var u string
	err := p.r.onKey(ctx, key, func(c redis.Conn) error {
		var err error
		u, err = redis.String(redis.DoContext(c, ctx, "GET", key))
		return err
	})
	if errors.Is(err, redis.ErrNil) {
		return "", fmt.Errorf("node %s: %w", node, socketio.ErrUnknownPeer)
	}
	return u, err
}
