package redisx

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// maxRedirects bounds how often one command follows MOVED, ASK or waits out
// CLUSTERDOWN before giving up; a failover settles in a few.
const maxRedirects = 8

// ClusterClient is the client side of a Redis Cluster: a pool per node, the
// shard map as last read, and commands sent to the master of a key's slot,
// following MOVED and ASK and waiting out CLUSTERDOWN. It holds no
// subscriptions; whoever subscribes asks it where a key's slot lives.
type ClusterClient struct {
	url URL
	// refresh is called whenever what was seen suggests the shard map is
	// stale (a redirect, CLUSTERDOWN, a node gone); it must not block.
	refresh func()
	topo    atomic.Pointer[Topology]

	mu    sync.Mutex
	pools map[string]*redis.Pool // by node address
}

// NewClusterClient returns a client for a redis-cluster:// URL. refresh asks the
// caller to read the shard map again (Reload), at its own pace.
func NewClusterClient(u URL, refresh func()) *ClusterClient {
	return &ClusterClient{url: u, refresh: refresh, pools: map[string]*redis.Pool{}}
}

// Topology is the shard map as last read, nil before the first Reload.
func (c *ClusterClient) Topology() *Topology { return c.topo.Load() }

// Owner is the master address serving key's slot, "" when unknown.
func (c *ClusterClient) Owner(key string) string {
	t := c.topo.Load()
	if t == nil {
		return ""
	}
	i := t.Shard(Slot(key))
	if i < 0 {
		return ""
	}
	return t.Shards[i].Master
}

// Reload reads the shard map from the first node that answers (known nodes
// first, then the URL's seeds), keeps it, and returns it with the one it
// replaced.
func (c *ClusterClient) Reload(ctx context.Context) (now, old *Topology, err error) {
	var candidates []string
	if t := c.topo.Load(); t != nil {
		candidates = t.Nodes()
	}
	candidates = append(candidates, c.url.Addrs...)
	var errs []error
	for _, addr := range candidates {
		var topo *Topology
		err := c.OnNode(ctx, addr, func(conn redis.Conn) (err error) {
			topo, err = ReadTopology(ctx, conn, c.url.TLS)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		return topo, c.topo.Swap(topo), nil
	}
	return nil, nil, errors.Join(errs...)
}

// Close releases every node's pool. Safe to call twice.
func (c *ClusterClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pools {
		_ = p.Close()
	}
	return nil
}

func (c *ClusterClient) pool(addr string) *redis.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[addr]
	if p == nil {
		p = NewPool(func() (redis.Conn, error) {
			return redis.Dial("tcp", addr, c.url.DialOptions(5*time.Second)...)
		})
		c.pools[addr] = p
	}
	return p
}

// OnNode runs f on a pooled connection to the node at addr (WithPooled).
func (c *ClusterClient) OnNode(ctx context.Context, addr string, f func(redis.Conn) error) error {
	return WithPooled(ctx, c.pool(addr), f)
}

// redirect reads a cluster error reply: where to go next and whether that
// node needs ASKING first. wait is set for CLUSTERDOWN and TRYAGAIN, which
// pass once the cluster settles.
func redirect(err error) (addr string, asking, wait, ok bool) {
	var re redis.Error
	if !errors.As(err, &re) {
		return "", false, false, false
	}
	f := strings.Fields(string(re))
	switch {
	case len(f) == 3 && f[0] == "MOVED":
		return f[2], false, false, true
	case len(f) == 3 && f[0] == "ASK":
		return f[2], true, false, true
	case len(f) > 0 && (f[0] == "CLUSTERDOWN" || f[0] == "TRYAGAIN"):
		return "", false, true, true
	}
	return "", false, false, false
}

// OnKey runs f on the master of key's slot, following MOVED and ASK and
// waiting out CLUSTERDOWN. f is told when the node expects ASKING, which
// OnKey has already sent on the connection.
func (c *ClusterClient) OnKey(ctx context.Context, key string, f func(conn redis.Conn, asking bool) error) error {
	addr, asking := c.Owner(key), false
	err := errors.New("no node serves the slot of " + strconv.Quote(key))
	for range maxRedirects {
		if addr != "" {
			err = c.OnNode(ctx, addr, func(conn redis.Conn) error {
				if asking {
					if _, err := redis.DoContext(conn, ctx, "ASKING"); err != nil {
						return err
					}
				}
				return f(conn, asking)
			})
		}
		next, ask, wait, ok := redirect(err)
		if addr != "" && !ok {
			if err != nil && !IsReplyError(err) {
				c.refresh() // the master may be gone: a replica may hold its slots now
			}
			return err
		}
		switch {
		case ok && !wait:
			addr, asking = next, ask
			if !ask {
				c.refresh()
			}
			continue
		default:
			c.refresh()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			addr, asking = c.Owner(key), false
		}
	}
	return err
}
