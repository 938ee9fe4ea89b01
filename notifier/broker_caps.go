package notifier

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// newBroker picks the broker --redis-url asks for: none is the in-process
// broker, redis-cluster:// the sharded one, anything else one server
// (possibly found through Sentinel).
func newBroker(cfg Config, node string, log *slog.Logger) (Broker, error) {
	if cfg.RedisURL == "" {
		return NewLocalBroker(), nil
	}
	opt := RedisOptions{URL: cfg.RedisURL, Creds: cfg.redisCreds, TLSConfig: cfg.redisTLS, SentinelCreds: cfg.sentinelCreds, VersionTTL: cfg.VersionTTL, Prefix: cfg.ChannelPrefix, NodeID: node, Logger: log}
	u, err := redisx.Parse(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	if u.Kind == redisx.Cluster {
		return NewClusterBroker(opt)
	}
	return NewRedisBroker(opt)
}

// Optional capabilities. The core Broker interface is what every broker
// does; a broker may also implement any of these, and each says what the
// node does when its broker does not.

// FlagSetter stores the feature flag where every node reads it, and
// announces it to them (DESIGN §5). Without it, POST /v1/admin/mode
// changes the mode of this node only.
type FlagSetter interface {
	SetFlag(ctx context.Context, mode Mode) error
}

// BatchPublisher publishes a batch better than item by item: the cluster
// splits it by shard. Without it, POST /v1/publish with several items
// publishes them one at a time.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, bumps []Bump) (raised int, err error)
}

// LinkReporter tells a broker's delivery links apart in metrics. Without
// it, pushpoll_broker_up shows one link, "local", following Up.
type LinkReporter interface {
	Links() []LinkState
}

// KeyStore keeps small keys with a lifetime where every node reads them:
// the nodes' advertisements (peers.go). Without it the node has no peers,
// and a polling request that reaches another node than its session's is
// refused rather than forwarded.
type KeyStore interface {
	SetKey(ctx context.Context, key, value string, ttl time.Duration) error
	// GetKey returns ErrNoKey for a key that is absent or expired.
	GetKey(ctx context.Context, key string) (string, error)
	DelKey(ctx context.Context, key string) error
}

// ErrNoKey is KeyStore.GetKey's answer for a key that is absent.
var ErrNoKey = errors.New("no such key")

// A broker that is an io.Closer is closed when the node shuts down, after
// its Run returned; without it there is nothing to release.

var (
	_ FlagSetter     = (*RedisBroker)(nil)
	_ FlagSetter     = (*ClusterBroker)(nil)
	_ KeyStore       = (*RedisBroker)(nil)
	_ KeyStore       = (*ClusterBroker)(nil)
	_ LinkReporter   = (*RedisBroker)(nil)
	_ LinkReporter   = (*ClusterBroker)(nil)
	_ BatchPublisher = (*ClusterBroker)(nil)
	_ io.Closer      = (*RedisBroker)(nil)
	_ io.Closer      = (*ClusterBroker)(nil)
)
