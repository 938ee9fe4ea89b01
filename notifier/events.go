package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pushpoll/pushpoll/authbridge"
	"github.com/pushpoll/pushpoll/internal/ratelog"
	"github.com/pushpoll/pushpoll/internal/socketio"
)

// socketEvents is what a socket can do: connect and disconnect, subscribe
// (authorize, join the hub, catch up), unsubscribe, report its tabs and
// shadow reports. The wire (internal/socketio) calls it; it reaches down to
// the hub, the broker, the authorizer and the link trust, and nothing of
// the node's wiring.
type socketEvents struct {
	cfg     Config
	warn    *ratelog.Logger
	auth    authbridge.Authorizer
	hub     *hub
	broker  Broker
	trust   *linkTrust
	m       *metrics
	work    *workers    // runs subscribes off the goroutines that read sockets
	writers *writerPool // empties socket mailboxes (writer.go)
	reports *reportLimits

	// admit counts a new socket against the node's and its client's bounds
	// and reports false when it must be closed; release undoes it
	// (clients.go).
	admit   func(sk *socket, client string) bool
	release func(sk *socket)

	// connected, disconnected and subscribed count and log each socket's
	// life (connlog.go).
	connected    func(sk *socket, c socketio.Conn)
	disconnected func(sk *socket)
	subscribed   func(sk *socket, ack subscribeAck)
}

func (s *socketEvents) currentMode() modeMsg           { return s.trust.currentMode() }
func (s *socketEvents) tellMode(sk *socket, m modeMsg) { s.trust.tellMode(sk, m) }
func (s *socketEvents) holdsDownTopic(sk *socket) bool { return s.trust.holdsDownTopic(sk) }

// onConnect registers the socket. It runs on the connection's reader, so it
// sends nothing itself: the mode notice goes to the mailbox, which the
// writer pool drains.
func (s *socketEvents) onConnect(c socketio.Conn) *socket {
	h := c.Header()
	sk := newSocket(c.ID(), c, s.writers)
	sk.cookie, sk.authorization = h.Get("Cookie"), h.Get("Authorization")
	sk.protocol = c.Protocol()
	s.m.protocols.WithLabelValues(sk.protocol).Inc()
	sk.limiter = newBucket(s.cfg.SubscribeBurst, s.cfg.SubscribeEvery)
	sk.reports = newBucket(2*reportBurst, s.cfg.FastInterval/reportBurst)
	s.connected(sk, c)
	admitted := s.admit(sk, h.Get(clientHeader))
	s.hub.addSocket(sk)
	sk.setMode(s.currentMode())
	if !admitted {
		sk.closeFor(DisconnectCap) // Disconnect follows, with sk
	}
	return sk
}

func (s *socketEvents) onDisconnect(sk *socket) {
	if sk != nil {
		s.release(sk)
		s.hub.removeSocket(sk)
		s.disconnected(sk)
		s.m.protocols.WithLabelValues(sk.protocol).Dec()
	}
}

// onAuth grants what a socket.io 3/4 client's CONNECT auth payload asks
// for, `io(url, {auth: {token, topics}})`: the same object as a subscribe's
// argument, run as that subscribe. The client learns it is connected only
// if something was granted; otherwise it gets connect_error with the
// reason the subscribe's ack would carry. An auth payload with neither a
// token nor topics asks for nothing and connects.
func (s *socketEvents) onAuth(sk *socket, raw json.RawMessage) error {
	var asked struct {
		Token  string          `json:"token"`
		Topics json.RawMessage `json:"topics"`
	}
	if err := json.Unmarshal(raw, &asked); err == nil && asked.Token == "" && len(asked.Topics) == 0 {
		return nil
	}
	var ack subscribeAck
	s.runSubscribe(sk, raw, func(a subscribeAck) { ack = a })
	if reason := ack.refusal(); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// refusal is why a subscribe granted nothing, "" if it granted something:
// its error, or the reason shared by its denied topics (the first in
// order when they differ).
func (a subscribeAck) refusal() string {
	if a.Error != "" {
		return a.Error
	}
	if len(a.Granted) > 0 {
		return ""
	}
	if len(a.Denied) == 0 {
		return "no topics"
	}
	return a.Denied[slices.Min(slices.Collect(maps.Keys(a.Denied)))]
}

func (s *socketEvents) onError(err error) {
	s.warn.Warn("socket error", "socket error", "err", err)
}

type subscribeRequest struct {
	Token  string           `json:"token"`
	Topics map[string]int64 `json:"topics"`
}

type subscribeAck struct {
	Granted []string          `json:"granted"`
	Denied  map[string]string `json:"denied"`
	Error   string            `json:"error,omitempty"`
}

// onSubscribe authorizes topics and catches the client up: if this node, or
// the version table, knows a newer version than the client holds, a stale
// hint follows at once.
// onSubscribe runs the subscribe, and encodes its ack, on a worker: the
// goroutine reading the socket only waits.
func (s *socketEvents) onSubscribe(sk *socket, raw json.RawMessage) json.RawMessage {
	var out json.RawMessage
	s.runSubscribe(sk, raw, func(a subscribeAck) {
		ack, err := json.Marshal(a)
		if err != nil { // a subscribeAck always encodes
			panic(err)
		}
		out = ack
	})
	return out
}

// runSubscribe runs a subscribe and then done with its ack on a worker,
// and waits for both.
func (s *socketEvents) runSubscribe(sk *socket, raw json.RawMessage, done func(subscribeAck)) {
	finished := make(chan struct{})
	s.work.run(func() {
		defer close(finished)
		a := s.subscribe(sk, raw)
		if sk != nil {
			s.subscribed(sk, a)
		}
		done(a)
	})
	<-finished
}

func (s *socketEvents) subscribe(sk *socket, raw json.RawMessage) subscribeAck {
	ack := subscribeAck{Granted: []string{}, Denied: map[string]string{}}
	denied := denials{}
	defer s.countDenials(denied)
	if sk == nil {
		ack.Error = "not connected"
		return ack
	}
	if !sk.limiter.allow(time.Now()) {
		ack.Error = "too many subscribes"
		denied.add("rate limited")
		return ack
	}
	var req subscribeRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		ack.Error = "bad subscribe: want {\"token\":\"…\",\"topics\":{\"topic\":version}}"
		denied.add("bad subscribe")
		return ack
	}
	if len(req.Topics)+sk.topicCount() > s.cfg.MaxTopicsPerSocket {
		ack.Error = fmt.Sprintf("too many topics: at most %d per socket", s.cfg.MaxTopicsPerSocket)
		denied.add("too many topics")
		return ack
	}
	asked := make([]string, 0, len(req.Topics))
	for t := range req.Topics {
		switch err := CheckTopic(t); {
		case errors.Is(err, ErrReservedTopic):
			ack.Denied[t] = err.Error()
			denied.add(err.Error())
			continue
		case err != nil:
			ack.Denied[truncate(t, MaxTopicLen)] = "invalid topic"
			denied.add("invalid topic")
			continue
		}
		asked = append(asked, t)
	}
	if len(asked) == 0 {
		return ack
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := s.auth.Authorize(ctx, authbridge.Request{
		Token: req.Token, Topics: asked, Cookie: sk.cookie, Authorization: sk.authorization, Client: sk.client,
	}, time.Now())
	for t, reason := range d.Denied {
		ack.Denied[t] = reason
		denied.add(reason)
	}
	if len(d.Granted) == 0 {
		return ack
	}
	held := make(map[string]int64, len(d.Granted))
	for _, t := range d.Granted {
		held[t] = max(req.Topics[t], 0)
	}
	ack.Granted = d.Granted
	sk.subscribed.Store(true)
	sk.stopIdle()
	sk.credential.Store(&d.Credential)
	added := sk.grant(held, d.Expires, func() { s.expire(sk) })
	sk.signedBy(d.Granted, d.Key)
	known, err := s.hub.join(sk, added, newOnly(d.ByPrefix, added), d.Credential)
	if errors.Is(err, errSocketGone) {
		return ack // nobody is left to read it
	}
	if err != nil {
		// A node-wide limit: nothing of this subscribe is kept.
		sk.drop(added)
		denied.add(err.Error())
		ack.Granted = []string{}
		ack.Error = s.limitMessage(err)
		return ack
	}
	if s.holdsDownTopic(sk) {
		s.tellMode(sk, s.currentMode()) // one of its topics is on a lost shard
	}
	for t, v := range known {
		if v > 0 {
			sk.hint(t, v) // hint compares with what the client holds
		}
	}
	// Only once Redis has applied the SUBSCRIBE of topics new to this node
	// does a bump reach it; reading the version table after that, and only
	// then acking, leaves no window in which a bump the app publishes right
	// after the ack is lost. The version table may also know of bumps this
	// node never saw (published while the client was on another node),
	// unless the node's versions are complete: then join hinted them.
	if s.hub.complete(d.Granted) {
		// The table was read when the first holder came, and found no key
		// for what the node still knows no version of: this holder may have
		// missed the same expired bump.
		unknownPoll(s.cfg.VersionTTL, sk, added, known)
		return ack
	}
	epoch := s.hub.linkEpoch()
	confirmed := true
	if len(added) > 0 {
		// Two seconds is hundreds of Redis round trips; beyond it the link
		// is failing and the resync after it covers the topics anyway.
		wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.broker.WaitSubscribed(wctx, added)
		wcancel()
		if err != nil {
			s.warn.Warn("subscribe not confirmed", "broker did not confirm a subscribe in time", "err", err)
			confirmed = false
		}
	}
	// WaitSubscribed also returns when the link is down; markComplete
	// discounts a read if a link event came since epoch, and Up and
	// holdsDownTopic rule out a link, or a shard, that was down all along.
	if s.catchUp(ctx, sk, d.Granted) && confirmed && s.broker.Up() && !s.holdsDownTopic(sk) {
		s.hub.markComplete(added, epoch)
	}
	return ack
}

// newOnly returns the topics of list that are in added.
func newOnly(list, added []string) []string {
	if len(list) == 0 {
		return nil
	}
	fresh := make(map[string]bool, len(added))
	for _, t := range added {
		fresh[t] = true
	}
	var out []string
	for _, t := range list {
		if fresh[t] {
			out = append(out, t)
		}
	}
	return out
}

// limitMessage is the ack error for a topic limit the hub refused.
func (s *socketEvents) limitMessage(err error) string {
	if errors.Is(err, errPrefixTopics) {
		return fmt.Sprintf("too many topics granted by prefix: at most %d per credential on this node", s.cfg.MaxPrefixTopics)
	}
	return fmt.Sprintf("too many topics on this node: at most %d", s.cfg.MaxTopics)
}

// catchUp reads topics' versions from the table for sk, and reports
// whether it could.
func (s *socketEvents) catchUp(ctx context.Context, sk *socket, topics []string) bool {
	versions, err := s.broker.Versions(ctx, topics)
	if err != nil {
		s.warn.Warn("version table", "version table read failed", "err", err)
		return false
	}
	for t, v := range versions {
		s.hub.observe(t, v)
		sk.hint(t, v)
	}
	unknownPoll(s.cfg.VersionTTL, sk, topics, versions)
	return true
}

// expire runs when a socket's earliest grant lapses.
func (s *socketEvents) expire(sk *socket) {
	gone := sk.expire(time.Now(), func() { s.expire(sk) })
	s.hub.leave(sk, gone)
}

func (s *socketEvents) onUnsubscribe(sk *socket, raw json.RawMessage) {
	if sk == nil {
		return
	}
	var topics []string
	if err := json.Unmarshal(raw, &topics); err != nil {
		s.warn.Warn("bad unsubscribe", "bad unsubscribe frame", "err", err)
		return
	}
	s.hub.leave(sk, sk.drop(topics))
}

// maxTabs bounds a socket's reported tab count: no browser runs more tabs
// of one app, and a forged report then cannot skew the tab metric by more
// than this.
const maxTabs = 1000

// onTabs records how many tabs share the socket and how many of them are
// visible (parseTabs): the count feeds a metric, the visible ones the
// spread window. A bad report is ignored.
func (s *socketEvents) onTabs(sk *socket, raw json.RawMessage) {
	if sk == nil {
		return
	}
	n, visible, err := parseTabs(raw)
	if err != nil {
		s.warn.Warn("bad tabs", "bad tabs report", "err", err)
		return
	}
	s.hub.spread.setTabs(sk, n, visible)
}

// shadowReport is what a client in shadow mode says about one hint or one
// change its poll found.
type shadowReport struct {
	Topic  string `json:"topic"`
	Found  *bool  `json:"found"`
	LeadMs int64  `json:"leadMs"`
	Missed bool   `json:"missed"`
}

// reportBurst is what the shim sends after one poll at most (DESIGN §8);
// a socket gets twice that at once and then that many per fast interval,
// the fastest a page in shadow mode polls.
const reportBurst = 10

// onReport turns a client's shadow report into metrics. Operators switch to
// push on these figures, so a report counts only from a socket that was
// told shadow, about a topic it holds, within its rate: anything else is
// counted apart and changes nothing.
func (s *socketEvents) onReport(sk *socket, raw json.RawMessage) {
	if sk == nil {
		return
	}
	var r shadowReport
	switch {
	case s.currentMode().Mode != ModeShadow:
		s.m.shadowIgnored.WithLabelValues("not in shadow mode").Inc()
		return
	case !sk.reports.allow(time.Now()):
		s.m.shadowIgnored.WithLabelValues("rate limited").Inc()
		return
	case json.Unmarshal(raw, &r) != nil:
		s.m.shadowIgnored.WithLabelValues("bad report").Inc()
		return
	case !sk.holds(r.Topic):
		s.m.shadowIgnored.WithLabelValues("topic not held").Inc()
		return
	case !s.reports.allow(sk.who(), time.Now()):
		s.m.shadowIgnored.WithLabelValues("credential rate limited").Inc()
		return
	}
	switch {
	case r.Missed:
		s.m.shadow.WithLabelValues("missed").Inc()
	case r.Found != nil && *r.Found:
		s.m.shadow.WithLabelValues("hit").Inc()
		if r.LeadMs >= 0 && r.LeadMs < int64(time.Hour/time.Millisecond) {
			s.m.shadowLead.Observe(float64(r.LeadMs) / 1000)
		}
	case r.Found != nil:
		s.m.shadow.WithLabelValues("false").Inc()
	}
}
