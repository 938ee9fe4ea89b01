package notifier

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// shardLink is the subscriber connection to one shard master: SSUBSCRIBE
// for the held topics in its slots, a canary on a sharded channel of its
// own slots, and the PING probe (subscriber, sharded). Losing it costs only
// the topics on its shard.
type shardLink struct {
	*subscriber
	b      *ClusterBroker
	addr   string
	label  atomic.Value // string: the shard's slot ranges
	cancel context.CancelFunc
}

func newShardLink(b *ClusterBroker, addr string) *shardLink {
	l := &shardLink{b: b, addr: addr}
	l.subscriber = newSubscriber("cluster shard", b.opt, b.log.With("node", addr), true, &b.wantSet, l)
	l.label.Store("")
	return l
}

// fixedChannels: the canary on a sharded channel in one of this shard's
// slots, so it travels the same way as the shard's bumps, and the flag if
// its slot is here.
func (l *shardLink) fixedChannels() (flag, canary string, err error) {
	topo := l.b.cl.Topology()
	for i := range 1 << 20 {
		tag := strconv.Itoa(i)
		if s := topo.Shard(redisx.Slot(tag)); s >= 0 && topo.Shards[s].Master == l.addr {
			canary = nodeKeyPrefix + "canary:{" + tag + "}:" + l.b.opt.NodeID
			break
		}
	}
	if canary == "" {
		return "", "", errors.New("no slot of this shard found for the canary")
	}
	if l.b.cl.Owner(l.b.FlagKey()) == l.addr {
		flag = l.b.FlagKey()
	}
	return flag, canary, nil
}

func (l *shardLink) dialSubscriber(ctx context.Context) (redis.Conn, string, error) {
	conn, err := redis.DialContext(ctx, "tcp", l.addr, l.b.url.DialOptions(l.b.opt.ReadTimeout)...)
	return conn, l.addr, err
}

func (l *shardLink) serves(topic string) bool { return l.b.cl.Owner(l.b.opt.Prefix+topic) == l.addr }

// kicked: nothing but ctx ends a shard's session.
func (l *shardLink) kicked(string) error { return nil }

func (l *shardLink) linkUp(topics []string, _ BrokerHandler) { l.b.subscribed(topics) }

func (l *shardLink) confirmed(topics []string) { l.b.subscribed(topics) }

func (l *shardLink) moved(topics []string) { l.b.markMoved(topics) }

func (l *shardLink) linkDown(topics []string, stopped bool, _ BrokerHandler) {
	if stopped {
		l.b.markMoved(topics) // stopped: another master serves these slots now
	} else {
		l.b.reportDown(topics)
	}
}

// sessionFailed asks for the shard map to be read again: after a failover
// a replica has the slots, after a migration another master.
func (l *shardLink) sessionFailed() { l.b.requestRefresh() }

func (l *shardLink) publishCanary(channel, seq string) { l.b.publishCanary(channel, seq) }
