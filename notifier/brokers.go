package notifier

import (
	"context"
	"log/slog"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// newBroker picks the broker --redis-url asks for: none is the in-process
// broker, redis-cluster:// the sharded one, anything else one server
// (possibly found through Sentinel).
func newBroker(cfg Config, node string, log *slog.Logger) (Broker, error) {
	if cfg.RedisURL == "" {
		return NewLocalBroker(), nil
	}
	opt := RedisOptions{URL: cfg.RedisURL, Prefix: cfg.ChannelPrefix, NodeID: node, Logger: log}
	u, err := redisx.Parse(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	if u.Kind == redisx.Cluster {
		return NewClusterBroker(opt)
	}
	return NewRedisBroker(opt)
}

// flagSetter is a broker that carries the feature flag to every node.
type flagSetter interface {
	SetFlag(ctx context.Context, mode string) error
}

// batchPublisher is a broker that publishes a batch better than item by
// item: the cluster splits it by shard.
type batchPublisher interface {
	PublishBatch(ctx context.Context, bumps []Bump) (raised int, err error)
}

var (
	_ flagSetter     = (*RedisBroker)(nil)
	_ flagSetter     = (*ClusterBroker)(nil)
	_ batchPublisher = (*ClusterBroker)(nil)
)
