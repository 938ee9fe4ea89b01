package notifier

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// switchChannel is where a sentinel announces a failover:
// "<master-name> <old-ip> <old-port> <new-ip> <new-port>".
const switchChannel = "+switch-master"

// watchSentinels follows failovers as they happen, so that the subscriber
// and the pool move to the new master the moment the sentinels agree on it
// rather than after a reconnect backoff. It listens on one sentinel at a
// time, moving to the next when the link fails; the subscriber session
// asks the sentinels again on every reconnect anyway, so a gap here only
// costs speed, never correctness.
func (b *RedisBroker) watchSentinels(ctx context.Context) {
	backoff := b.opt.BackoffMin
	for i := 0; ctx.Err() == nil; i++ {
		sentinel := b.url.Addrs[i%len(b.url.Addrs)]
		started := time.Now()
		err := b.watchSentinel(ctx, sentinel)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 30*time.Second {
			backoff = b.opt.BackoffMin
		}
		b.log.Warn("sentinel link lost", "sentinel", sentinel, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, b.opt.BackoffMax)
	}
}

func (b *RedisBroker) watchSentinel(ctx context.Context, sentinel string) error {
	conn, err := b.url.DialSentinel(ctx, sentinel, b.opt.ReadTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	psc := redis.PubSubConn{Conn: conn}
	if err := psc.Subscribe(switchChannel); err != nil {
		return err
	}
	// A switch announced while no sentinel was watched is caught by asking.
	ask, err := b.url.DialSentinel(ctx, sentinel, b.opt.ReadTimeout)
	if err != nil {
		return err
	}
	hp, err := redis.Strings(redis.DoContext(ask, ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", b.url.Master))
	ask.Close()
	if err == nil && len(hp) == 2 {
		if addr := net.JoinHostPort(hp[0], hp[1]); addr != b.link.server.Load().(string) && b.link.server.Load().(string) != "" {
			b.masterSwitched(addr)
		}
	}

	// Pings from here while the loop below reads: a sentinel that stops
	// answering is left within ReadTimeout.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(b.opt.PingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				conn.Close()
				return
			case <-stop:
				return
			case <-t.C:
				if psc.Ping("") != nil {
					return
				}
			}
		}
	}()
	for {
		switch m := psc.Receive().(type) {
		case redis.Message:
			f := strings.Fields(string(m.Data))
			if len(f) == 5 && f[0] == b.url.Master {
				b.masterSwitched(net.JoinHostPort(f[3], f[4]))
			}
		case error:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return m
		case redis.Subscription:
			if m.Count == 0 {
				return errors.New("unsubscribed")
			}
		}
	}
}

// masterSwitched moves the broker to the master a sentinel announced: new
// pooled connections (the old ones may reach a demoted master, which
// refuses writes) and a new subscriber session (kicked, unless it already
// reached the new master by asking after a link loss).
func (b *RedisBroker) masterSwitched(addr string) {
	if b.switchedTo.Swap(addr).(string) == addr {
		return
	}
	b.log.Warn("sentinel switched master", "master", addr)
	old := b.pools.Swap(redisx.NewPool(b.pools.Load().Dial))
	_ = old.Close()
	select {
	case b.link.kick <- struct{}{}:
	default:
	}
}

// Links reports the one subscriber link, named after the server kind.
func (b *RedisBroker) Links() []LinkState {
	name := "redis"
	if b.url.Kind == redisx.Sentinel {
		name = "sentinel:" + b.url.Master
	}
	return []LinkState{{
		Name:       name,
		Up:         b.Up(),
		CanaryLag:  time.Duration(b.link.canaryLag.Load()),
		Reconnects: b.link.reconnects.Load(),
	}}
}
