package redisx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gomodule/redigo/redis"
)

// ErrNoMaster is returned when no sentinel led to a live master.
var ErrNoMaster = errors.New("no sentinel led to a live master")

// sentinelTimeout bounds each step of asking one sentinel: a sentinel that
// does not answer within it is skipped for the next, so one dead sentinel
// costs a failover at most this much.
const sentinelTimeout = time.Second

// DialSentinel connects to one sentinel. Sentinels are reached with the
// URL's TLS settings but without its credentials, which belong to the data
// nodes: a sentinel has its own password (SentinelCreds).
func (u URL) DialSentinel(ctx context.Context, addr string, readTimeout time.Duration) (redis.Conn, error) {
	opts := append([]redis.DialOption{
		redis.DialConnectTimeout(sentinelTimeout),
		redis.DialWriteTimeout(sentinelTimeout),
		redis.DialReadTimeout(readTimeout),
	}, u.tlsOptions()...)
	if u.SentinelCreds != nil {
		user, password := u.SentinelCreds.Get()
		if user != "" {
			opts = append(opts, redis.DialUsername(user))
		}
		if password != "" {
			opts = append(opts, redis.DialPassword(password))
		}
	}
	return redis.DialContext(ctx, "tcp", addr, opts...)
}

// DialMaster asks the sentinels in turn where the master is, connects to
// it and checks with ROLE that it really is a master: during a failover a
// sentinel may still name the old one, or a restarted old master may run as
// a replica for a moment. It returns the connection and the master's
// address.
func (u URL) DialMaster(ctx context.Context, readTimeout time.Duration) (redis.Conn, string, error) {
	var errs []error
	for _, s := range u.Addrs {
		addr, err := u.askSentinel(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("sentinel %s: %w", s, err))
			continue
		}
		conn, err := redis.DialContext(ctx, "tcp", addr, u.DialOptions(readTimeout)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("master %s from sentinel %s: %w", addr, s, err))
			continue
		}
		role, err := redis.Values(redis.DoContext(conn, ctx, "ROLE"))
		if err == nil && len(role) > 0 {
			if r, _ := redis.String(role[0], nil); r == "master" {
				return conn, addr, nil
			}
			err = fmt.Errorf("ROLE is %v, not master", role[0])
		}
		conn.Close()
		errs = append(errs, fmt.Errorf("master %s from sentinel %s: %w", addr, s, err))
	}
	return nil, "", fmt.Errorf("%w %q: %w", ErrNoMaster, u.Master, errors.Join(errs...))
}

func (u URL) askSentinel(ctx context.Context, sentinel string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*sentinelTimeout)
	defer cancel()
	c, err := u.DialSentinel(ctx, sentinel, sentinelTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	hp, err := redis.Strings(redis.DoContext(c, ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", u.Master))
	if errors.Is(err, redis.ErrNil) {
		return "", fmt.Errorf("does not monitor a master named %q", u.Master)
	}
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("odd GET-MASTER-ADDR-BY-NAME reply %q", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}
