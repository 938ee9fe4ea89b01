package demo

import (
	"context"
	"sync"
	"time"
)

// publishTimeout bounds one Publish call. A hint that comes later than the
// next fast poll is worth nothing, and bumps queue behind a stuck publish,
// so a few seconds is already generous.
const publishTimeout = 3 * time.Second

// announcer tells the notifier about bumps, in version order.
//
// Bumps run concurrently, so two of them could reach Publish out of order
// (v5 after v6). Versions only grow by contract, so the late v5 would be
// pointless at best. Instead every announce publishes the board's current
// version, under a mutex, and skips the call when an earlier announce
// already published a version at least as new: Publish sees strictly
// increasing versions, and a burst of bumps costs fewer publishes than
// bumps.
//
// Lock order: announcer.mu, then board.mu (through currentVersion).
type announcer struct {
	mu      sync.Mutex // held across Publish; see above
	sent    int64      // highest version Publish accepted
	board   *board
	publish func(ctx context.Context, topic string, v int64) error
}

// announce makes sure a version at least v has been published. It returns
// nil when one has (possibly by another bump's call), or Publish's error.
func (a *announcer) announce(ctx context.Context, v int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent >= v {
		return nil
	}
	latest := a.board.currentVersion()
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := a.publish(ctx, Topic, latest); err != nil {
		return err
	}
	a.sent = latest
	return nil
}
