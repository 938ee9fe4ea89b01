package notifier

import (
	"context"
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
// told poll until that part is back and resynced.
type linkTrust struct {
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

// Link implements BrokerHandler: the one outage event, for the whole link
// (ev.Topics nil) or for a set of topics alike. Going down, the sockets it
// covers are told to poll at once. Coming back, the topics it covers are
// resynced (resync), then their sockets are told push again.
func (s *Server) Link(ev LinkEvent) {
	epoch := s.hub.linkEvent(ev.Topics)
	whole := ev.Topics == nil
	state := "up"
	if !ev.Up {
		state = "down"
		s.trust.mu.Lock()
		if whole {
			s.trust.wasDown = true
			s.trust.trusted.Store(false)
		} else {
			if s.trust.down == nil {
				s.trust.down = map[string]Epoch{}
			}
			for _, t := range ev.Topics {
				s.trust.down[t] = epoch
			}
		}
		s.trust.mu.Unlock()
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
func (s *Server) resync(topics []string, epoch Epoch) {
	whole := topics == nil
	current := func() bool { return !whole || (s.hub.wholeEpoch() == epoch && s.broker.Up()) }
	s.trust.mu.Lock()
	afterOutage := s.trust.wasDown || !whole
	s.trust.mu.Unlock()
	if whole {
		topics = s.hub.topicNames()
	} else {
		topics = append([]string(nil), topics...) // shuffled below: the caller's stays
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	versions, err := s.broker.Versions(ctx, topics)
	cancel()
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
	s.trust.mu.Lock()
	if whole {
		s.trust.trusted.Store(true)
	}
	for _, t := range topics {
		// A topic that went down again after this resync began stays down.
		if e, ok := s.trust.down[t]; ok && !whole && e < epoch {
			delete(s.trust.down, t)
		}
	}
	s.trust.mu.Unlock()
	if whole {
		topics = nil
	}
	s.retell(topics)
}

// retell sends the holders of topics (nil: every socket) the mode they
// should have now.
func (s *Server) retell(topics []string) {
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
func (s *Server) tellMode(sk *socket, m modeMsg) {
	if m.Mode != ModePoll && s.holdsDownTopic(sk) {
		m.Mode = ModePoll
	}
	sk.setMode(m)
}

func (s *Server) holdsDownTopic(sk *socket) bool {
	s.trust.mu.Lock()
	defer s.trust.mu.Unlock()
	if len(s.trust.down) == 0 {
		return false
	}
	for t := range sk.held() {
		if _, down := s.trust.down[t]; down {
			return true
		}
	}
	return false
}
