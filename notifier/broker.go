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

// BrokerHandler receives what a broker delivers.
type BrokerHandler interface {
	// Message is one raw publish on a topic's channel.
	Message(topic string, payload []byte)
	// Link reports the delivery link, or the part of it some topics are
	// on, going down or up again.
	Link(ev LinkEvent)
	// Flag reports the feature flag set for every node (DESIGN §5), as read
	// from the bus; the handler validates it.
	Flag(mode string)
}

// LinkEvent is the one outage event, for a whole link and for a set of
// topics (a Redis Cluster shard) alike.
type LinkEvent struct {
	// Up false: bumps for the topics may be lost from now on. Up true: the
	// topics are subscribed again, after an outage or a slot migration,
	// and what they missed is only in the version table.
	Up bool
	// Topics the event covers; nil means the whole link, every topic.
	Topics []string
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

// WaitSubscribed has nothing to wait for: publishing is a function call.
func (b *LocalBroker) WaitSubscribed(context.Context, []string) error { return nil }

func (b *LocalBroker) Run(ctx context.Context, h BrokerHandler) {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	h.Link(LinkEvent{Up: true})
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
