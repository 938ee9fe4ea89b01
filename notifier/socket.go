package notifier

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// packetConn is what a socket writes its events through (socketio.Conn).
type packetConn interface {
	Send(socketio.Frame) error
	TrySend(socketio.Frame) error
	Flush() error
	Close() error
}

// socket is one browser connection: the topics it holds and a mailbox of
// what it still has to be told.
//
// The mailbox never grows beyond one entry per held topic plus one pending
// mode, drain and expired notice: a burst of bumps overwrites pending
// entries instead of queueing them (DESIGN §4). At most one writer works
// on a socket at a time: a pool writer takes it when the mailbox gets work
// and lets go when it is empty, so an idle socket costs no goroutine of
// ours; a slow one only ever blocks a goroutine of its own (writer.go).
type socket struct {
	id   string
	conn packetConn
	pool *writerPool
	// cookie and authorization are the handshake's headers, forwarded to the
	// app in callback mode. They are never logged.
	cookie, authorization string
	// client is the client's address (clients.go); idle closes the socket
	// unless subscribed is set by a granted subscribe before it fires. The
	// first granted subscribe stops and drops it, so that a subscribed
	// socket does not keep a timer it no longer needs.
	client     string
	idle       atomic.Pointer[time.Timer]
	subscribed atomic.Bool
	// credential is who its latest grant was for (authbridge
	// Decision.Credential): shadow reports are limited per credential.
	credential atomic.Pointer[string]
	// protocol is the client's Engine.IO version, for metrics only.
	protocol string

	// wire is the connection as socketio has it, for what only it knows:
	// why it ended, its transport, its peer. Nil in unit tests.
	wire socketio.Conn
	// closedFor is the DisconnectReason+1 of the node's own close; 0 until
	// the node closes the socket.
	closedFor atomic.Uint32
	// since is when it connected, for the disconnect log line.
	since time.Time

	// limiter bounds subscribes; only the goroutine reading the socket (one
	// at a time per connection) uses it.
	limiter *bucket
	// reports bounds shadow reports; only the goroutine reading the socket,
	// which delivers them, uses it.
	reports *bucket
	// tabs is how many browser tabs share this connection, as the client
	// reports it (DESIGN §2 `tabs`); 1 until it says otherwise.
	tabs atomic.Int64
	// visible is how many of those tabs are in view (spread.go); stored
	// under mu so that a closed socket's count no longer moves.
	visible atomic.Int64

	mu sync.Mutex
	// topics holds each granted topic's grant.
	topics topicList[held]
	expiry *time.Timer // fires at the earliest grant expiry

	hints pendingHints // pending stale hints (mailbox.go)
	// shared is the bump's frame for hints when they hold exactly its
	// single hint (checked again when the writer takes them).
	shared *sharedHint
	// spread is the widest spread window (ms) of the pending hints' bumps.
	spread  int64
	mode    *modeMsg // pending mode notice (only the latest matters)
	drain   *drainMsg
	expired []string
	writing bool // a writer has the socket (queued, writing or stalled)
	closed  bool
}

// held is one granted topic of a socket.
type held struct {
	// v is the newest version the socket is known to hold: what it
	// subscribed with, raised by every hint queued (which is sent unless
	// the topic or the socket goes first). A hint at or below it is a
	// duplicate and costs nothing.
	v int64
	// expires is when the grant lapses, in unix nanoseconds; 0 is never.
	expires int64
	// key is the id of the key that verified a token's grant (authbridge
	// Decision.Key), so that the grant ends when a reload removes the key;
	// "" for a callback grant.
	key string
}

// lapsed is an expires before any now: revoke's.
const lapsed = 1

type modeMsg struct {
	Mode Mode  `json:"mode"`
	Fast int64 `json:"fast"`
	Slow int64 `json:"slow"`
}

type drainMsg struct {
	Within int64 `json:"within"`
}

type expiredMsg struct {
	Topics []string `json:"topics"`
}

func newSocket(id string, conn packetConn, pool *writerPool) *socket {
	s := &socket{
		id:   id,
		conn: conn,
		pool: pool,
	}
	s.tabs.Store(1)
	s.visible.Store(1)
	return s
}

// hint queues a stale hint for topic at version v unless the socket already
// has it. It reports whether anything was queued or raised, and never blocks.
func (s *socket) hint(topic string, v int64) bool {
	queued, claimed := s.queueHint(topic, v, nil)
	if claimed {
		s.pool.push(s)
	}
	return queued
}

// queueHint is hint with the bump's shared frame (nil: none), used if the
// mailbox ends up holding exactly this hint, and without handing the socket
// to the writers: claimed says the caller must push it, as a fan-out does
// for many at once.
func (s *socket) queueHint(topic string, v int64, shared *sharedHint) (queued, claimed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.topics.get(topic)
	if g == nil || s.closed {
		return false, false
	}
	if v != 0 && v <= g.v {
		// Held, or already queued: coalesced.
		return false, false
	}
	if !s.hints.put(topic, v) {
		return false, false // a version-less hint with one pending
	}
	// Raised now rather than when the writer sends it, so that a writer
	// takes the mailbox without looking up the topic again.
	g.v = max(g.v, v)
	if shared != nil {
		s.spread = max(s.spread, shared.spread)
	}
	if s.hints.len() == 1 {
		s.shared = shared
	} else {
		s.shared = nil
	}
	return true, s.claim()
}

func (s *socket) setMode(m modeMsg)   { s.notice(func() { s.mode = &m }) }
func (s *socket) setDrain(d drainMsg) { s.notice(func() { s.drain = &d }) }

// notice queues a control notice (set, under s.mu) unless the socket is gone.
func (s *socket) notice(set func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	set()
	s.kick()
}

// kick hands the socket to the writer pool unless a writer has it already.
// s.mu must be held.
func (s *socket) kick() {
	if s.claim() {
		s.pool.push(s)
	}
}

// claim reports whether the socket needs a writer, and marks it as having
// one. s.mu must be held.
func (s *socket) claim() bool {
	if s.writing {
		return false
	}
	s.writing = true
	return true
}

// appendEvent encodes 2["name",arg] for the rare events.
func appendEvent(buf []byte, name string, arg any) []byte {
	b, _ := json.Marshal(arg) // plain structs of strings and integers
	buf = append(buf, `2["`...)
	buf = append(buf, name...)
	buf = append(buf, `",`...)
	buf = append(buf, b...)
	return append(buf, ']')
}

// grant records topics as held at the versions the client says it has, and
// when their grant lapses. It returns the topics that were new to the socket.
func (s *socket) grant(topics map[string]int64, expires time.Time, onExpire func()) (added []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	var exp int64
	if !expires.IsZero() {
		exp = expires.UnixNano()
	}
	for t, v := range topics {
		g := s.topics.get(t)
		if g == nil {
			added = append(added, t)
			g = s.topics.add(t, held{v: v})
		}
		g.v = max(g.v, v)
		g.expires = exp
	}
	s.armExpiry(onExpire)
	return added
}

// armExpiry schedules onExpire at the earliest grant expiry. s.mu must be held.
func (s *socket) armExpiry(onExpire func()) {
	var first int64
	for _, e := range s.topics.list {
		if g := e.v; g.expires != 0 && (first == 0 || g.expires < first) {
			first = g.expires
		}
	}
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	if first != 0 && onExpire != nil {
		s.expiry = time.AfterFunc(time.Until(time.Unix(0, first)), onExpire)
	}
}

// expire drops every topic whose grant lapsed by now, queues an `expired`
// notice for them, and returns them so the hub can forget them too.
func (s *socket) expire(now time.Time, onExpire func()) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	var gone []string
	for _, e := range s.topics.list {
		if e.v.expires != 0 && e.v.expires <= now.UnixNano() {
			gone = append(gone, e.topic)
		}
	}
	for _, t := range gone {
		s.topics.remove(t)
		s.hints.remove(t)
	}
	if len(gone) > 0 {
		s.expired = append(s.expired, gone...)
		s.kick()
	}
	s.armExpiry(onExpire)
	return gone
}

// who is the credential of the socket's latest grant, "" before any.
func (s *socket) who() string {
	if c := s.credential.Load(); c != nil {
		return *c
	}
	return ""
}

// signedBy records which token key granted topics; "" (a callback grant)
// forgets it.
func (s *socket) signedBy(topics []string, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		if g := s.topics.get(t); g != nil {
			g.key = key
		}
	}
}

// revoke makes the grants whose key is no longer held lapse now; the
// caller then runs expire, which drops them and tells the client
// `expired`. It returns how many it revoked.
func (s *socket) revoke(held func(key string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.topics.list {
		if g := &s.topics.list[i].v; g.key != "" && !held(g.key) {
			g.expires = lapsed
			n++
		}
	}
	return n
}

// drop forgets topics (an unsubscribe) and returns those that were held.
func (s *socket) drop(topics []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var held []string
	for _, t := range topics {
		if s.topics.remove(t) {
			held = append(held, t)
			s.hints.remove(t)
		}
	}
	return held
}

// close marks the socket gone and returns every topic it held.
func (s *socket) close() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	held := make([]string, 0, s.topics.len())
	for _, e := range s.topics.list {
		held = append(held, e.topic)
	}
	s.hints = pendingHints{}
	return held
}

// held returns the socket's topics and the versions it is known to hold.
func (s *socket) held() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, s.topics.len())
	for _, e := range s.topics.list {
		out[e.topic] = e.v.v
	}
	return out
}

// holds reports whether the socket holds topic.
func (s *socket) holds(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics.get(topic) != nil
}

// stopIdle ends the subscribe timeout (clients.go), once a subscribe was
// granted or the socket is gone.
func (s *socket) stopIdle() {
	if t := s.idle.Swap(nil); t != nil {
		t.Stop()
	}
}

func (s *socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *socket) topicCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics.len()
}

// bucket is a token bucket: burst tokens, one more every interval.
type bucket struct {
	tokens, burst float64
	every         time.Duration
	last          time.Time
}

func newBucket(burst int, every time.Duration) *bucket {
	return &bucket{tokens: float64(burst), burst: float64(burst), every: every}
}

func (b *bucket) allow(now time.Time) bool {
	if !b.last.IsZero() && b.every > 0 {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.every))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
