package notifier

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Epoch numbers the broker's link events on one node. It answers "can this
// node trust that it saw every bump of a topic?" in one place: a topic's
// epoch is that of the last event covering it (the whole link's, or its
// cluster shard's), and what the node learned of a topic under one epoch
// (hub.markComplete) says nothing under the next. Model: the epoch half of
// centrifuge's StreamPosition{Offset, Epoch}; the offset is the version.
type Epoch uint64

// linkTrust is what this node may promise its sockets. Push is trusted
// while the whole link is up and resynced since its last event, and a
// socket holding a topic on a lost part of the link (a cluster shard) is
// told poll until that part is back and resynced. It hears the broker's
// link events (Link) and owns the resync after them.
type linkTrust struct {
	cfg    Config
	log    *slog.Logger
	hub    *hub
	broker Broker
	flag   *modeFlag
	m      *metrics

	// trusted: the whole link is up and resynced.
	trusted atomic.Bool

	mu sync.Mutex
	// wasDown: the whole link went down at least once, so bumps may have
	// been missed; before that, a topic the table does not know needs no
	// hint after the first link-up.
	wasDown bool
	// down maps topics on a lost part of the link to the epoch of that
	// event.
	down map[string]Epoch
}

// currentMode is what clients are told: the feature flag, overridden to
// poll while push cannot be trusted (broker link down or not yet resynced).
func (s *linkTrust) currentMode() modeMsg {
	mode := s.flag.Load()
	if !s.trusted.Load() {
		mode = ModePoll
	}
	return modeMsg{Mode: mode, Fast: s.cfg.FastInterval.Milliseconds(), Slow: s.cfg.SlowInterval.Milliseconds()}
}

// onLink takes the one outage event, for the whole link
// (ev.Topics nil) or for a set of topics alike. Going down, the sockets it
// covers are told to poll at once. Coming back, the topics it covers are
// resynced (resync), then their sockets are told push again.
func (s *linkTrust) onLink(ev LinkEvent) {
	epoch := s.hub.linkEvent(ev.Topics)
	whole := ev.Topics == nil
	state := "up"
	if !ev.Up {
		state = "down"
		s.mu.Lock()
		if whole {
			s.wasDown = true
			s.trusted.Store(false)
		} else {
			if s.down == nil {
				s.down = map[string]Epoch{}
			}
			for _, t := range ev.Topics {
				s.down[t] = epoch
			}
		}
		s.mu.Unlock()
	}
	s.m.linkTransitions.WithLabelValues(state).Inc()
	if !ev.Up {
		s.retell(ev.Topics)
		return
	}
	go s.resync(ev.Topics, epoch)
}

// resync runs after the link, or the part of it that topics (nil: all)
// are on, came back at epoch. Where the version table has a topic, only
// sockets behind it are hinted (fanOut compares versions); where it has
// none, every holder gets v 0, "poll to be sure". Fan-outs are spread over
// ResyncSpread so a big topic's clients do not poll at once, whether the
// whole link or one cluster shard was lost. A later event for the whole
// link ends a whole-link resync: the next one takes over.
func (s *linkTrust) resync(topics []string, epoch Epoch) {
	whole := topics == nil
	current := func() bool { return !whole || (s.hub.wholeEpoch() == epoch && s.broker.Up()) }
	s.mu.Lock()
	afterOutage := s.wasDown || !whole
	s.mu.Unlock()
	if whole {
		topics = s.hub.topicNames()
	} else {
		topics = append([]string(nil), topics...) // shuffled below: the caller's stays
	}
	versions, err := s.readVersions(topics)
	if err != nil {
		s.log.Warn("version table unreadable after the link came back; hinting v 0", "err", err, "topics", len(topics))
		versions = nil
	}
	rand.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
	const steps = 20
	for i, t := range topics {
		if !current() {
			return
		}
		v, known := versions[t]
		if !known && !afterOutage {
			// The first link-up of a node: nothing was missed while it
			// was down, only what its sockets' subscribes already read.
			continue
		}
		s.hub.fanOut(t, v) // 0 where the table has nothing: poll to be sure
		if len(topics) > steps && i%(len(topics)/steps) == 0 {
			time.Sleep(s.cfg.ResyncSpread / steps)
		}
	}
	if !current() {
		return
	}
	s.mu.Lock()
	if whole {
		s.trusted.Store(true)
	}
	for _, t := range topics {
		// A topic that went down again after this resync began stays down.
		if e, ok := s.down[t]; ok && !whole && e < epoch {
			delete(s.down, t)
		}
	}
	s.mu.Unlock()
	if whole {
		topics = nil
	}
	s.retell(topics)
}

// readVersions reads the version table for a resync. A server that has
// just come back may refuse reads for a moment (Redis answers LOADING
// while it loads its dataset, yet already takes SUBSCRIBE and PING), and
// hinting v 0 then would send every holder to poll for nothing; so a
// failed read is tried again, with a growing pause, for as long as one
// read was allowed to take before.
func (s *linkTrust) readVersions(topics []string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pause := 20 * time.Millisecond
	for {
		versions, err := s.broker.Versions(ctx, topics)
		if err == nil {
			return versions, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// retell sends the holders of topics (nil: every socket) the mode they
// should have now.
func (s *linkTrust) retell(topics []string) {
	m := s.currentMode()
	if topics == nil {
		s.hub.eachSocket(func(sk *socket) { s.tellMode(sk, m) })
		return
	}
	for _, sk := range s.hub.holders(topics) {
		s.tellMode(sk, m)
	}
}

// tellMode sends sk mode m, or poll while one of its topics is on a lost
// part of the link.
func (s *linkTrust) tellMode(sk *socket, m modeMsg) {
	if m.Mode != ModePoll && s.holdsDownTopic(sk) {
		m.Mode = ModePoll
	}
	sk.setMode(m)
}

func (s *linkTrust) holdsDownTopic(sk *socket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.down) == 0 {
		return false
	}
	for t := range sk.held() {
		if _, down := s.down[t]; down {
			return true
		}
	}
	return false
}
