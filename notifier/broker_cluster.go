package notifier

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// ClusterBroker is the Redis Cluster broker (DESIGN §8): sharded pub/sub.
// A bump travels only within its shard: the app runs the publish script
// with SPUBLISH on the master of the topic's slot (key and channel are the
// same string, so the same slot), and this node keeps one subscriber
// connection per shard master (cluster_link.go) that SSUBSCRIBEs the
// channels of the held topics in that shard's slots.
//
// Losing a shard costs only the topics on it: their holders are told poll
// (a LinkEvent for those topics), and when a link to the shard's master, the old one back or
// a promoted replica, has subscribed them again, they are resynced from the
// version table and told push. Redirects (MOVED, ASK), CLUSTERDOWN,
// sunsubscribe pushes from a slot migration and failed links all ask for
// the shard map to be read again; it is also re-read every few seconds.
type ClusterBroker struct {
	opt    RedisOptions
	url    redisx.URL
	log    *slog.Logger
	script *redis.Script
	wantSet

	redisKeys
	cl      *redisx.ClusterClient // pools, the shard map, MOVED and ASK
	refresh chan struct{}         // cap 1: "read the shard map again", coalesced

	// Lock order: mu before wantSet.mu; handler calls are made with
	// neither held.
	mu     sync.Mutex
	links  map[string]*shardLink // by master address
	h      BrokerHandler
	everUp bool // every shard was up at once: the node's first whole-link LinkEvent{Up: true} was sent
	// gap holds the held topics whose bumps may have been missed since
	// their link last delivered, and why. Each is resynced once subscribed
	// again (a LinkEvent for those topics, Up).
	gap map[string]gapKind
}

type gapKind uint8

const (
	// gapMoved: the topic's slot moved to another shard while held.
	gapMoved gapKind = iota + 1
	// gapDown: its shard's link was lost, and its holders told poll.
	gapDown
)

var _ Broker = (*ClusterBroker)(nil)

// topologyEvery is how often the shard map is re-read without being asked:
// it catches a migration or failover nobody told this node about (no
// redirect, no push), at the cost of one small command per few seconds.
// While a shard's link is down it is re-read every topologyEveryDown, so a
// promoted replica is found within that of the cluster promoting it, not
// whenever the lost link's backoff next fails.
const (
	topologyEvery     = 5 * time.Second
	topologyEveryDown = 250 * time.Millisecond
)

// NewClusterBroker checks a redis-cluster:// URL and returns a broker; it
// connects in Run.
func NewClusterBroker(opt RedisOptions) (*ClusterBroker, error) {
	opt = opt.withDefaults()
	u, err := redisx.Parse(opt.URL)
	u.Creds, u.TLSConfig = opt.Creds, opt.TLSConfig
	if err != nil {
		return nil, err
	}
	if u.Kind != redisx.Cluster {
		return nil, errors.New("the cluster broker needs a redis-cluster:// URL")
	}
	b := &ClusterBroker{
		opt:     opt,
		url:     u,
		log:     opt.Logger.With("component", "redis-cluster"),
		script:  redis.NewScript(1, PublishScript),
		refresh: make(chan struct{}, 1),
		links:   map[string]*shardLink{},
		gap:     map[string]gapKind{},
	}
	b.cl = redisx.NewClusterClient(u, b.requestRefresh)
	b.redisKeys = redisKeys{
		on: func(ctx context.Context, key string, f func(redis.Conn) error) error {
			return b.cl.OnKey(ctx, key, func(c redis.Conn, _ bool) error { return f(c) })
		},
		publish: "SPUBLISH", flagKey: FlagKey(opt.Prefix), canaryTimeout: opt.CanaryTimeout,
	}
	b.wantSet = newWantSet(opt.Linger, func(topic string) {
		if l := b.linkOf(b.opt.Prefix + topic); l != nil {
			l.markDirty()
		}
	})
	return b, nil
}

// FlagKey is the feature flag's key and sharded channel: one slot, so one
// shard carries it to every node.
func (b *ClusterBroker) FlagKey() string { return FlagKey(b.opt.Prefix) }

// Subscribe declares interest; a topic whose shard is down right now is
// reported down at once, so its new holder polls until the shard is back.
func (b *ClusterBroker) Subscribe(topic string) {
	b.wantSet.Subscribe(topic)
	if l := b.linkOf(b.opt.Prefix + topic); l == nil || !l.up.Load() {
		b.reportDown([]string{topic})
	}
}

// WaitSubscribed waits for the SSUBSCRIBE of topics on their shards' links.
func (b *ClusterBroker) WaitSubscribed(ctx context.Context, topics []string) error {
	return b.waitConfirmed(ctx, topics, func() bool {
		for _, t := range topics {
			if l := b.linkOf(b.opt.Prefix + t); l == nil || !l.up.Load() {
				return false // its shard is down: the resync covers it
			}
		}
		return true
	})
}

// Up reports whether the node can deliver at all: at least one shard link
// is up. A node missing one shard still serves every other topic, so it
// stays ready; per-shard state is in Links.
func (b *ClusterBroker) Up() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.everUp {
		return false
	}
	for _, l := range b.links {
		if l.up.Load() {
			return true
		}
	}
	return false
}

// Links reports one link per shard, named by its slot ranges.
func (b *ClusterBroker) Links() []LinkState {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]LinkState, 0, len(b.links))
	for _, l := range b.links {
		out = append(out, LinkState{
			Name:       "shard:" + l.label.Load().(string),
			Up:         l.up.Load(),
			CanaryLag:  time.Duration(l.canaryLag.Load()),
			Reconnects: l.reconnects.Load(),
		})
	}
	return out
}

// Close releases every node's pool. Safe to call twice.
func (b *ClusterBroker) Close() error { return b.cl.Close() }

// Run keeps the shard map current and one link per shard master running
// until ctx ends.
func (b *ClusterBroker) Run(ctx context.Context, h BrokerHandler) {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if err := b.reload(ctx, &wg); err != nil && ctx.Err() == nil {
			b.log.Warn("cluster shard map unreadable", "err", err)
		}
		every := topologyEvery
		if b.anyLinkDown() {
			every = topologyEveryDown
		}
		select {
		case <-ctx.Done():
			return
		case <-b.refresh:
		case <-time.After(every):
		}
		// Requests come in bursts (every redirect, every link of a failed
		// shard); one read per burst is enough.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// anyLinkDown reports whether a shard has no live link, or no shard map
// was read yet.
func (b *ClusterBroker) anyLinkDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.links) == 0 {
		return true
	}
	for _, l := range b.links {
		if !l.up.Load() {
			return true
		}
	}
	return false
}

func (b *ClusterBroker) requestRefresh() {
	select {
	case b.refresh <- struct{}{}:
	default:
	}
}

// reload reads the shard map and applies it: a link for every master,
// none for a node that no longer is one.
func (b *ClusterBroker) reload(ctx context.Context, wg *sync.WaitGroup) error {
	topo, old, err := b.cl.Reload(ctx)
	if err != nil {
		return err
	}
	b.apply(ctx, topo, old, wg)
	return nil
}

func (b *ClusterBroker) apply(ctx context.Context, topo, old *redisx.Topology, wg *sync.WaitGroup) {
	b.mu.Lock()
	masters := map[string]string{}
	for _, s := range topo.Shards {
		masters[s.Master] = s.Label()
	}
	for addr, l := range b.links {
		if _, ok := masters[addr]; !ok {
			l.cancel()
			delete(b.links, addr)
		}
	}
	var links []*shardLink
	h := b.h
	for addr, label := range masters {
		l := b.links[addr]
		if l == nil {
			l = newShardLink(b, addr)
			b.links[addr] = l
			lctx, cancel := context.WithCancel(ctx)
			l.cancel = cancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.run(lctx, h)
			}()
		}
		l.label.Store(label)
		links = append(links, l)
	}
	b.mu.Unlock()
	if !topo.Equal(old) {
		b.log.Info("cluster shard map", "shards", len(topo.Shards))
		for _, l := range links {
			l.markDirty()
		}
	}
}

func (b *ClusterBroker) linkOf(key string) *shardLink {
	addr := b.cl.Owner(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.links[addr]
}

// reportDown tells the handler that topics lost their link, once each.
// Before the node's first full link-up every socket polls anyway.
func (b *ClusterBroker) reportDown(topics []string) {
	b.mu.Lock()
	var fresh []string
	for _, t := range topics {
		if b.gap[t] != gapDown {
			b.gap[t] = gapDown
			fresh = append(fresh, t)
		}
	}
	h, up := b.h, b.everUp
	b.mu.Unlock()
	if up && len(fresh) > 0 {
		h.Link(LinkEvent{Topics: fresh})
	}
}

// markMoved records topics whose slot left a link while they were held.
func (b *ClusterBroker) markMoved(topics []string) {
	b.mu.Lock()
	for _, t := range topics {
		if b.gap[t] == 0 {
			b.gap[t] = gapMoved
		}
	}
	b.mu.Unlock()
}

// subscribed runs when a link has confirmed topics (wantSet.confirm is
// done): the ones with a gap are handed to the handler to resync, and the
// node's first full link-up is announced.
func (b *ClusterBroker) subscribed(topics []string) {
	b.mu.Lock()
	var back []string
	for _, t := range topics {
		if b.gap[t] != 0 {
			delete(b.gap, t)
			back = append(back, t)
		}
	}
	first := false
	if !b.everUp {
		first = len(b.links) > 0
		for _, l := range b.links {
			first = first && l.up.Load()
		}
		b.everUp = first
	}
	h := b.h
	b.mu.Unlock()
	if first {
		h.Link(LinkEvent{Up: true})
		go b.readFlag(h)
		return
	}
	if len(back) > 0 {
		h.Link(LinkEvent{Up: true, Topics: back})
	}
}
