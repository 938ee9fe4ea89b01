package notifier

import (
	"context"
	"errors"
	"time"

	"github.com/gomodule/redigo/redis"
)

// redisKeys is what both Redis brokers do alike on the connection that
// serves a key (any pooled one for one server, the slot's master in a
// cluster): the feature flag, the canary's publish and the peers' keys.
// They differ only in that connection and in PUBLISH or SPUBLISH.
type redisKeys struct {
	on            func(ctx context.Context, key string, f func(redis.Conn) error) error
	publish       string // "PUBLISH", or "SPUBLISH" on a cluster's sharded channels
	flagKey       string
	canaryTimeout time.Duration
}

var (
	_ FlagSetter = redisKeys{}
	_ KeyStore   = redisKeys{}
)

// SetFlag stores the feature flag and announces it to every node.
func (k redisKeys) SetFlag(ctx context.Context, mode Mode) error {
	return k.on(ctx, k.flagKey, func(c redis.Conn) error {
		if _, err := redis.DoContext(c, ctx, "SET", k.flagKey, string(mode)); err != nil {
			return err
		}
		_, err := redis.DoContext(c, ctx, k.publish, k.flagKey, string(mode))
		return err
	})
}

// readFlag hands h the flag stored in Redis: it may have changed while
// this node was away.
func (k redisKeys) readFlag(h BrokerHandler) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mode, err := k.GetKey(ctx, k.flagKey)
	if err == nil && mode != "" {
		h.Flag(mode)
	}
}

// publishCanary sends one canary the way the app's bumps go to Redis.
func (k redisKeys) publishCanary(channel, seq string) {
	ctx, cancel := context.WithTimeout(context.Background(), k.canaryTimeout)
	defer cancel()
	_ = k.on(ctx, channel, func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, k.publish, channel, seq)
		return err
	})
}

func (k redisKeys) SetKey(ctx context.Context, key, value string, ttl time.Duration) error {
	return k.on(ctx, key, func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "SET", key, value, "PX", ttl.Milliseconds())
		return err
	})
}

func (k redisKeys) GetKey(ctx context.Context, key string) (string, error) {
	var v string
	err := k.on(ctx, key, func(c redis.Conn) (err error) {
		v, err = redis.String(redis.DoContext(c, ctx, "GET", key))
		return err
	})
	if errors.Is(err, redis.ErrNil) {
		return "", ErrNoKey
	}
	return v, err
}

func (k redisKeys) DelKey(ctx context.Context, key string) error {
	return k.on(ctx, key, func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "DEL", key)
		return err
	})
}
