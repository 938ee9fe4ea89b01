package notifier

import (
	"errors"
	"sync"
)

// hub is the node's topic registry: which sockets hold which topic, and the
// newest version this node has seen for each. It tells the broker when a
// topic gains its first local holder or loses its last.
//
// Locks: hub.mu and a socket's mu are never held together. Fan-out copies
// a topic's holders under hub.mu, releases it, then posts to each mailbox;
// posting never blocks, so a slow socket cannot stall it. Interest calls
// (Subscribe when a topic gains its first holder, Unsubscribe when it loses
// its last) are made after hub.mu is released, because a broker may call
// back into the hub from them (the cluster broker reports a topic whose
// shard is down); the calls for one topic may therefore reach the broker
// out of order, and brokers count them rather than set and unset (wantSet).
type hub struct {
	interest interest
	// maxTopics bounds the distinct topics held on this node, and
	// maxPrefixTopics the distinct topics one credential holds through
	// prefix grants (which let a client invent topics); 0 means no bound.
	// Each topic costs memory here and a channel in Redis.
	maxTopics, maxPrefixTopics int

	mu      sync.RWMutex
	topics  map[string]*topicEntry
	sockets map[string]*socket
	// prefixed counts, per credential, the holders of each topic it holds
	// by a prefix grant; its size per credential is what maxPrefixTopics
	// bounds.
	prefixed map[string]map[string]int
	// epoch numbers the broker's link events on this node (linkEvent), and
	// wholeAt is the epoch of the last one that covered the whole link; a
	// topic's own epoch is position.
	epoch, wholeAt Epoch
	// spread turns a bump's visible holders into its spread window; nil
	// spreads nothing.
	spread *spreader
}

type topicEntry struct {
	subs map[*socket]struct{}
	// creds names, for holders that hold the topic by a prefix grant, the
	// credential that granted it; nil until there is one.
	creds map[*socket]string
	// version is the newest version this node has seen published or read
	// from the version table; 0 when it knows nothing. join hands it to new
	// holders.
	version int64
	// sent is the newest version fanned out to the holders. A table read
	// raises version, not sent: the bump it found may still be on its way
	// on the channel, and its fan-out must reach the holders that lack it.
	sent int64
	// lostAt is the epoch of the last link event that covered this topic
	// and not the whole link: its cluster shard lost or back, or its slot
	// moved.
	lostAt Epoch
	// complete is the topic's epoch (position) + 1 when version is known
	// to be as new as the version table's: the table was read after the
	// broker confirmed this node's subscription to the topic, with no link
	// event since, so every later bump reaches the node (markComplete). Any
	// later event covering the topic moves its epoch on and voids it.
	complete Epoch
}

// position is the epoch of the last link event that covered e's topic:
// like centrifuge's StreamPosition epoch, a version known complete under
// one epoch says nothing under the next.
func (h *hub) position(e *topicEntry) Epoch { return max(h.wholeAt, e.lostAt) }

// The topic limits, as join refuses them.
var (
	errNodeTopics   = errors.New("node topic limit")
	errPrefixTopics = errors.New("prefix topic limit")
	// errSocketGone: the socket closed while its subscribe was under way.
	errSocketGone = errors.New("socket gone")
)

// interest is how the hub tells a broker what this node listens to.
type interest interface {
	Subscribe(topic string)
	Unsubscribe(topic string)
}

func newHub(in interest, maxTopics, maxPrefixTopics int) *hub {
	return &hub{
		interest:        in,
		maxTopics:       maxTopics,
		maxPrefixTopics: maxPrefixTopics,
		topics:          make(map[string]*topicEntry),
		sockets:         make(map[string]*socket),
		prefixed:        make(map[string]map[string]int),
	}
}

func (h *hub) addSocket(s *socket) {
	h.mu.Lock()
	h.sockets[s.id] = s
	h.mu.Unlock()
	h.spread.join(s)
}

// removeSocket forgets a socket and every topic it held.
func (h *hub) removeSocket(s *socket) {
	held := s.close()
	h.mu.Lock()
	delete(h.sockets, s.id)
	h.mu.Unlock()
	h.spread.leave(s)
	h.leave(s, held)
}

// join records that s holds topics, new to it, of which byPrefix were
// granted to cred by a prefix pattern, and returns the versions this node
// knows for them (0 where it knows nothing). If the topics new to the node
// would pass maxTopics, or cred's prefix-granted topics maxPrefixTopics, it
// records nothing and returns errNodeTopics or errPrefixTopics.
func (h *hub) join(s *socket, topics, byPrefix []string, cred string) (map[string]int64, error) {
	h.mu.Lock()
	known, fresh, err := h.joinLocked(s, topics, byPrefix, cred)
	h.mu.Unlock()
	for _, t := range fresh {
		h.interest.Subscribe(t)
	}
	// A socket that closed between its grant and this join may have left
	// the hub already, before it held these topics: without this it would
	// stay a holder for ever, keeping the topic and its channel alive. If
	// it closes after this check, its own removal sees these topics.
	if err == nil && s.isClosed() {
		h.leave(s, topics)
		return nil, errSocketGone
	}
	return known, err
}

// joinLocked is join under h.mu; it also returns the topics new to the node.
func (h *hub) joinLocked(s *socket, topics, byPrefix []string, cred string) (known map[string]int64, fresh []string, err error) {
	if h.maxTopics > 0 {
		n := 0
		for _, t := range topics {
			if h.topics[t] == nil {
				n++
			}
		}
		if len(h.topics)+n > h.maxTopics {
			return nil, nil, errNodeTopics
		}
	}
	held := h.prefixed[cred]
	if h.maxPrefixTopics > 0 && len(byPrefix) > 0 {
		n := 0
		for _, t := range byPrefix {
			if held[t] == 0 {
				n++
			}
		}
		if len(held)+n > h.maxPrefixTopics {
			return nil, nil, errPrefixTopics
		}
	}
	known = make(map[string]int64, len(topics))
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
	for _, t := range byPrefix {
		e := h.topics[t]
		if e == nil {
			continue // not among topics: nothing to count
		}
		if e.creds == nil {
			e.creds = make(map[*socket]string)
		}
		e.creds[s] = cred
		if held == nil {
			held = make(map[string]int)
			h.prefixed[cred] = held
		}
		held[t]++
	}
	return known, fresh, nil
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
		if cred, ok := e.creds[s]; ok {
			delete(e.creds, s)
			h.unprefix(cred, t)
		}
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

// unprefix forgets one holder of t by cred's prefix grant. h.mu must be
// held.
func (h *hub) unprefix(cred, t string) {
	held := h.prefixed[cred]
	if held[t]--; held[t] <= 0 {
		delete(held, t)
		if len(held) == 0 {
			delete(h.prefixed, cred)
		}
	}
}

// fanOut delivers a bump to every local holder of its topic. It returns how
// many sockets got a new or raised hint; a bump at or below the version this
// node already fanned out reaches nobody (duplicates and out-of-order
// publishes).
func (h *hub) fanOut(topic string, v int64) (hinted int, fresh bool) {
	h.mu.Lock()
	e := h.topics[topic]
	if e == nil {
		h.mu.Unlock()
		return 0, false
	}
	if v != 0 && v <= e.sent {
		h.mu.Unlock()
		return 0, false
	}
	e.sent = max(e.sent, v)
	e.version = max(e.version, v)
	subs := make([]*socket, 0, len(e.subs))
	var visible int64
	for s := range e.subs {
		subs = append(subs, s)
		visible += s.visible.Load()
	}
	h.mu.Unlock()
	// One frame for every recipient whose mailbox holds just this hint.
	var shared *sharedHint
	if len(subs) > 1 {
		shared = newSharedHint(topic, v, h.spread.window(visible))
	}
	// The sockets that need a writer go to the pool in chunks, reusing subs:
	// one lock and a wake-up or two per chunk, and the writers start on the
	// first chunk while the rest is being queued. A node's sockets share its
	// pool, so any one of them names it.
	kicked := subs[:0]
	next := 0
	for _, s := range subs {
		queued, claimed := s.queueHint(topic, v, shared)
		if queued {
			hinted++
		}
		if claimed {
			kicked = append(kicked, s)
			if len(kicked)-next == fanOutChunk {
				s.pool.pushAll(kicked[next:])
				next = len(kicked)
			}
		}
	}
	if next < len(kicked) {
		kicked[next].pool.pushAll(kicked[next:])
	}
	return hinted, true
}

// fanOutChunk is how many sockets a fan-out hands the writers at once: a
// few writer batches, so the writers start early and the queue's lock is
// taken a few dozen times per 10,000 recipients.
const fanOutChunk = 4 * writerBatch

// linkEpoch is the epoch of the last link event: capture it before
// waiting for a subscription, and hand it to markComplete after the read.
func (h *hub) linkEpoch() Epoch {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.epoch
}

// linkEvent records a broker link event, for topics or, with nil, the
// whole link, and returns its epoch: bumps may have been lost, or a wait
// for a subscription may have returned because the link was down rather
// than confirmed. No covered topic's version is complete until its table
// is read again.
func (h *hub) linkEvent(topics []string) Epoch {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch++
	if topics == nil {
		h.wholeAt = h.epoch
	}
	for _, t := range topics {
		if e := h.topics[t]; e != nil {
			e.lostAt = h.epoch
		}
	}
	return h.epoch
}

// wholeEpoch is the epoch of the last event for the whole link.
func (h *hub) wholeEpoch() Epoch {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.wholeAt
}

// markComplete records that topics' versions were read from the table
// after their subscriptions were confirmed, by a caller that captured
// epoch before waiting for them; any link event since the capture makes
// it count for nothing.
func (h *hub) markComplete(topics []string, epoch Epoch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != epoch {
		return
	}
	for _, t := range topics {
		if e := h.topics[t]; e != nil {
			e.complete = h.position(e) + 1
		}
	}
}

// complete reports whether the node's versions of every one of topics are
// as new as the version table's, so that reading the table would tell a
// subscriber nothing join did not.
func (h *hub) complete(topics []string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, t := range topics {
		if e := h.topics[t]; e == nil || e.complete != h.position(e)+1 {
			return false
		}
	}
	return true
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
