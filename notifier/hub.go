package notifier

import (
	"sync"
)

// hub is the node's topic registry: which sockets hold which topic, and the
// newest version this node has seen for each. It tells the broker when a
// topic gains its first local holder or loses its last.
//
// Locks: hub.mu and a socket's mu are never held together. Fan-out copies
// a topic's holders under hub.mu, releases it, then posts to each mailbox;
// posting never blocks, so a slow socket cannot stall it.
type hub struct {
	interest interest

	mu      sync.RWMutex
	topics  map[string]*topicEntry
	sockets map[string]*socket
}

type topicEntry struct {
	subs map[*socket]struct{}
	// version is the newest version this node has seen published or read
	// from the version table; 0 when it knows nothing.
	version int64
}

// interest is how the hub tells a broker what this node listens to.
type interest interface {
	Subscribe(topic string)
	Unsubscribe(topic string)
}

func newHub(in interest) *hub {
	return &hub{
		interest: in,
		topics:   make(map[string]*topicEntry),
		sockets:  make(map[string]*socket),
	}
}

func (h *hub) addSocket(s *socket) {
	h.mu.Lock()
	h.sockets[s.id] = s
	h.mu.Unlock()
}

// removeSocket forgets a socket and every topic it held.
func (h *hub) removeSocket(s *socket) {
	held := s.close()
	h.mu.Lock()
	delete(h.sockets, s.id)
	h.mu.Unlock()
	h.leave(s, held)
}

// join records that s holds topics and returns the versions this node knows
// for them (0 where it knows nothing).
func (h *hub) join(s *socket, topics []string) map[string]int64 {
	known := make(map[string]int64, len(topics))
	var fresh []string
	h.mu.Lock()
	for _, t := range topics {
		e := h.topics[t]
		if e == nil {
			e = &topicEntry{subs: make(map[*socket]struct{})}
			h.topics[t] = e
			fresh = append(fresh, t)
		}
		e.subs[s] = struct{}{}
		known[t] = e.version
	}
	h.mu.Unlock()
	for _, t := range fresh {
		h.interest.Subscribe(t)
	}
	return known
}

// leave records that s no longer holds topics.
func (h *hub) leave(s *socket, topics []string) {
	var empty []string
	h.mu.Lock()
	for _, t := range topics {
		e := h.topics[t]
		if e == nil {
			continue
		}
		delete(e.subs, s)
		if len(e.subs) == 0 {
			delete(h.topics, t)
			empty = append(empty, t)
		}
	}
	h.mu.Unlock()
	for _, t := range empty {
		h.interest.Unsubscribe(t)
	}
}

// fanOut delivers a bump to every local holder of its topic. It returns how
// many sockets got a new or raised hint; a bump at or below the version this
// node already saw reaches nobody (duplicates and out-of-order publishes).
func (h *hub) fanOut(topic string, v int64) (hinted int, fresh bool) {
	h.mu.Lock()
	e := h.topics[topic]
	if e == nil {
		h.mu.Unlock()
		return 0, false
	}
	if v != 0 && v <= e.version {
		h.mu.Unlock()
		return 0, false
	}
	if v > e.version {
		e.version = v
	}
	subs := make([]*socket, 0, len(e.subs))
	for s := range e.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		if s.hint(topic, v) {
			hinted++
		}
	}
	return hinted, true
}

// observe raises the node's known version of topic without hinting anyone,
// for versions learned from the version table.
func (h *hub) observe(topic string, v int64) {
	h.mu.Lock()
	if e := h.topics[topic]; e != nil && v > e.version {
		e.version = v
	}
	h.mu.Unlock()
}

// topicNames returns every topic with a local holder.
func (h *hub) topicNames() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.topics))
	for t := range h.topics {
		out = append(out, t)
	}
	return out
}

// eachSocket calls f for every socket, outside the hub lock.
func (h *hub) eachSocket(f func(*socket)) {
	h.mu.RLock()
	all := make([]*socket, 0, len(h.sockets))
	for _, s := range h.sockets {
		all = append(all, s)
	}
	h.mu.RUnlock()
	for _, s := range all {
		f(s)
	}
}

// tabs is the number of browser tabs the sockets serve.
func (h *hub) tabs() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var n int64
	for _, s := range h.sockets {
		n += s.tabs.Load()
	}
	return n
}

func (h *hub) counts() (sockets, topics int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.sockets), len(h.topics)
}
