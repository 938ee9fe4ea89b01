package redisx

import (
	"context"
	"errors"
	"time"

	"github.com/gomodule/redigo/redis"
)

// NewPool is the pool for publishes and reads of one node.
func NewPool(dial func() (redis.Conn, error)) *redis.Pool {
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

// WithPooled runs f on a connection of pool. After a Redis restart the
// pool still holds connections to the old process, so a network error gets
// one more try on a fresh connection; a reply error from Redis does not.
// Every caller must be safe to repeat.
func WithPooled(ctx context.Context, pool *redis.Pool, f func(redis.Conn) error) error {
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

// IsReplyError reports whether err is an error reply from Redis, as
// opposed to a failed connection.
func IsReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
