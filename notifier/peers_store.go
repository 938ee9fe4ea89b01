package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// brokerPeers keeps the advertisements in the broker's store.
type brokerPeers struct{ keys KeyStore }

var _ peerStore = brokerPeers{}

func (p brokerPeers) advertise(ctx context.Context, node, url string, ttl time.Duration) error {
	return p.keys.SetKey(ctx, peerKeyPrefix+node, url, ttl)
}

func (p brokerPeers) withdraw(ctx context.Context, node string) error {
	return p.keys.DelKey(ctx, peerKeyPrefix+node)
}

func (p brokerPeers) lookup(ctx context.Context, node string) (string, error) {
	u, err := p.keys.GetKey(ctx, peerKeyPrefix+node)
	if errors.Is(err, ErrNoKey) {
		return "", fmt.Errorf("node %s: %w", node, socketio.ErrUnknownPeer)
	}
	return u, err
}
