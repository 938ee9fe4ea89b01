package notifier

import (
	"context"
	"strconv"
	"sync"
)

// Broker carries version bumps from the app to this node. Two exist: Redis
// (many nodes on one bus) and in-process (a single node, no Redis).
type Broker interface {
	// Subscribe and Unsubscribe declare this node's interest in a topic; the
	// hub calls them when a topic gains its first or loses its last local
	// holder. They never block on the network. Calls for one topic may
	// arrive out of order (hub.go), so a broker counts them: the topic is
	// wanted while Subscribes outnumber Unsubscribes (wantSet).
	Subscribe(topic string)
	Unsubscribe(topic string)
	// Publish raises topic to version v in the version table (if the broker
	// has one) and announces it to every node. ts is the publisher's clock in
	// unix ms, 0 if unknown. It reports whether v was newer than what the
	// table held.
	Publish(ctx context.Context, topic string, v, ts int64) (bool, error)
	// Versions reads the version table: topic -> newest version, absent
	// where the table has no entry.
	Versions(ctx context.Context, topics []string) (map[string]int64, error)
	// Run delivers messages to h until ctx ends, reconnecting as needed.
	Run(ctx context.Context, h BrokerHandler)
	// Up reports whether the link that delivers bumps is live.
	Up() bool
	// WaitSubscribed returns once bumps for topics published from now on
	// will reach this node (bounded by ctx).
	WaitSubscribed(ctx context.Context, topics []string) error
}

// steadyBroker is a Broker that, once WaitSubscribed returned with its
// link up, delivers every later bump of those topics until it reports a
// link change. From the first table read after that, the hub's version of
// a topic is as new as the table's (hub.markComplete), so later
// subscribers of a held topic read no table: a reconnect storm of 19,000
// sockets on one topic makes one read, not 19,000. The cluster broker is
// not one: a topic's channel moves with its slot, and what was published
// meanwhile is found only in the table.
type steadyBroker interface {
	Broker
	steady()
}

// BrokerHandler receives what a broker delivers.
type BrokerHandler interface {
	// Message is one raw publish on a topic's channel.
	Message(topic string, payload []byte)
	// Link reports the delivery link going down (bumps may be lost from now
	// on) or up again (every held topic is subscribed again).
	Link(up bool)
	// Flag reports the feature flag set for every node (DESIGN §5), as read
	// from the bus; the handler validates it.
	Flag(mode string)
}

// LocalBroker is the in-process broker: one node, no Redis. Publishing goes
// straight to this node's sockets, and its version table lives in memory.
type LocalBroker struct {
	mu       sync.Mutex
	versions map[string]int64
	h        BrokerHandler
}

var _ Broker = (*LocalBroker)(nil)

// NewLocalBroker returns an in-process broker.
func NewLocalBroker() *LocalBroker {
	return &LocalBroker{versions: make(map[string]int64)}
}

func (b *LocalBroker) Subscribe(string)   {}
func (b *LocalBroker) Unsubscribe(string) {}
func (b *LocalBroker) Up() bool           { return true }

// steady: a publish is a function call that reaches every holder.
func (b *LocalBroker) steady() {}

// WaitSubscribed has nothing to wait for: publishing is a function call.
func (b *LocalBroker) WaitSubscribed(context.Context, []string) error { return nil }

func (b *LocalBroker) Run(ctx context.Context, h BrokerHandler) {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	h.Link(true)
	<-ctx.Done()
}

// Publish follows the Redis script's rule: the version only rises, and only
// a rise is announced.
func (b *LocalBroker) Publish(ctx context.Context, topic string, v, ts int64) (bool, error) {
	b.mu.Lock()
	if v != 0 && v <= b.versions[topic] {
		b.mu.Unlock()
		return false, nil
	}
	if v > 0 {
		b.versions[topic] = v
	}
	h := b.h
	b.mu.Unlock()
	if h != nil {
		h.Message(topic, encodeBump(v, ts))
	}
	return true, nil
}

func (b *LocalBroker) Versions(_ context.Context, topics []string) (map[string]int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int64, len(topics))
	for _, t := range topics {
		if v, ok := b.versions[t]; ok {
			out[t] = v
		}
	}
	return out, nil
}

// encodeBump writes the DESIGN §1 payload without a JSON encoder: it is on
// the publish path and its shape is fixed.
func encodeBump(v, ts int64) []byte {
	buf := make([]byte, 0, 48)
	buf = append(buf, `{"v":`...)
	buf = strconv.AppendInt(buf, v, 10)
	if ts > 0 {
		buf = append(buf, `,"ts":`...)
		buf = strconv.AppendInt(buf, ts, 10)
	}
	return append(buf, '}')
}
