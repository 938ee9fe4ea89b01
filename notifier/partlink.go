package notifier

import (
	"context"
	"time"
)

// TopicLinkHandler is a BrokerHandler that takes partial outages: a Redis
// Cluster shard lost or back. Only the sockets holding topics of that shard
// are affected; every other socket stays in push.
type TopicLinkHandler interface {
	// TopicsLink reports that bumps for topics may be lost from now on
	// (up false), or that topics are subscribed again after an outage or a
	// slot migration (up true) and should be resynced.
	TopicsLink(up bool, topics []string)
}

var _ TopicLinkHandler = (*Server)(nil)

// TopicsLink implements TopicLinkHandler. Down: the holders of topics are
// told poll. Up: the topics are resynced from the version table (only
// sockets behind it are hinted, v 0 where it has nothing), then their
// holders are told push again.
func (s *Server) TopicsLink(up bool, topics []string) {
	s.partMu.Lock()
	s.partGen++
	gen := s.partGen
	if !up {
		if s.partDown == nil {
			s.partDown = map[string]int{}
		}
		for _, t := range topics {
			s.partDown[t] = gen
		}
	}
	s.partMu.Unlock()
	if !up {
		s.m.linkTransitions.WithLabelValues("down").Inc()
		s.retell(topics)
		return
	}
	s.m.linkTransitions.WithLabelValues("up").Inc()
	go s.resyncTopics(topics, gen)
}

func (s *Server) resyncTopics(topics []string, gen int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	versions, err := s.broker.Versions(ctx, topics)
	cancel()
	if err != nil {
		s.log.Warn("version table unreadable after a shard came back; hinting v 0", "err", err)
	}
	for _, t := range topics {
		s.hub.fanOut(t, versions[t]) // 0 where the table has nothing: poll to be sure
	}
	s.partMu.Lock()
	for _, t := range topics {
		// A topic that went down again after this resync began stays down.
		if g, ok := s.partDown[t]; ok && g < gen {
			delete(s.partDown, t)
		}
	}
	s.partMu.Unlock()
	s.retell(topics)
}

// retell sends the holders of topics the mode they should have now.
func (s *Server) retell(topics []string) {
	m := s.currentMode()
	for _, sk := range s.hub.holders(topics) {
		s.tellMode(sk, m)
	}
}

// tellMode sends sk mode m, or poll while one of its topics is on a lost
// shard.
func (s *Server) tellMode(sk *socket, m modeMsg) {
	if m.Mode != "poll" && s.holdsDownTopic(sk) {
		m.Mode = "poll"
	}
	sk.setMode(m)
}

func (s *Server) holdsDownTopic(sk *socket) bool {
	s.partMu.Lock()
	defer s.partMu.Unlock()
	if len(s.partDown) == 0 {
		return false
	}
	for t := range sk.held() {
		if _, down := s.partDown[t]; down {
			return true
		}
	}
	return false
}

// holders returns every socket holding one of topics, once each.
func (h *hub) holders(topics []string) []*socket {
	seen := map[*socket]struct{}{}
	var out []*socket
	h.mu.RLock()
	for _, t := range topics {
		if e := h.topics[t]; e != nil {
			for sk := range e.subs {
				if _, ok := seen[sk]; !ok {
					seen[sk] = struct{}{}
					out = append(out, sk)
				}
			}
		}
	}
	h.mu.RUnlock()
	return out
}
