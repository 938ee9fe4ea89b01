package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// subscriber keeps one Redis subscriber connection up: the single server's
// (RedisBroker) or one cluster shard master's (shardLink). The receive
// goroutine, the PING probe, the canary, the confirmation of SUBSCRIBEs by
// PING markers, the resubscribe on "want changed" and the teardown are
// written here once; sharded is the only difference in the protocol
// (SSUBSCRIBE per slot, smessage, and sunsubscribe pushes when a slot
// migrates away). What differs in what a link means is in its owner.
//
// It follows redigo's pub/sub example: a receive goroutine that returns on
// error, a ping period shorter than the read timeout, and a supervisor loop
// with capped, jittered backoff around each session.
type subscriber struct {
	kind    string // "redis" or "cluster shard", in logs
	opt     RedisOptions
	log     *slog.Logger
	sharded bool
	want    *wantSet
	owner   subscriberOwner
	// kick ends the session, or its backoff, at once when owner.kicked
	// agrees; nil when nothing outside ctx ends a session. Cap 1.
	kick  chan struct{}
	dirty chan struct{} // cap 1: "which topics this link serves changed", coalesced

	server     atomic.Value // string: the address of the live session, "" between sessions
	up         atomic.Bool
	canaryLag  atomic.Int64 // nanoseconds: publish-to-receive time of the last canary
	reconnects atomic.Int64
}

// subscriberOwner is the broker side of a subscriber: where to connect,
// which topics the link serves and what its events mean.
type subscriberOwner interface {
	// dialSubscriber connects and returns the address reached.
	dialSubscriber(ctx context.Context) (redis.Conn, string, error)
	// fixedChannels are the flag channel ("" when this link does not
	// serve it) and this link's canary channel.
	fixedChannels() (flag, canary string, err error)
	// serves reports whether this link carries topic's channel.
	serves(topic string) bool
	publishCanary(channel, seq string)
	// kicked says why a kick ends the session to addr, nil if it does not.
	kicked(addr string) error
	// linkUp: every topic the link serves is subscribed and confirmed.
	linkUp(topics []string, h BrokerHandler)
	// confirmed: topics subscribed later are confirmed.
	confirmed(topics []string)
	// moved: Redis no longer carries topics on this link (their slot left).
	moved(topics []string)
	// linkDown: a session that was up ended; stopped when ctx ended it.
	linkDown(topics []string, stopped bool, h BrokerHandler)
	// sessionFailed runs after each failed session, before the backoff.
	sessionFailed()
}

func newSubscriber(kind string, opt RedisOptions, log *slog.Logger, sharded bool, want *wantSet, owner subscriberOwner) *subscriber {
	l := &subscriber{kind: kind, opt: opt, log: log, sharded: sharded, want: want, owner: owner, dirty: make(chan struct{}, 1)}
	l.server.Store("")
	return l
}

func (l *subscriber) markDirty() {
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

// run keeps a subscriber link alive until ctx ends: connect, subscribe to
// every wanted channel it serves, deliver, and on any failure try again
// after a capped, jittered delay. It never gives up.
func (l *subscriber) run(ctx context.Context, h BrokerHandler) {
	backoff := l.opt.BackoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := l.session(ctx, h)
		if ctx.Err() != nil {
			return
		}
		l.owner.sessionFailed()
		if time.Since(started) > 30*time.Second {
			backoff = l.opt.BackoffMin // it was a healthy link, not a flapping one
		}
		delay := backoff/2 + rand.N(backoff/2+1)
		l.log.Warn(l.kind+" link lost, reconnecting", "err", err, "retry_in_ms", delay.Milliseconds())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		case <-l.kick: // e.g. a new master was announced: no point waiting
		}
		backoff = min(2*backoff, l.opt.BackoffMax)
		l.reconnects.Add(1)
	}
}

// pubsubKinds are the command and push names of one pub/sub flavour.
type pubsubKinds struct{ subscribe, unsubscribe, message, unsubscribed string }

var (
	plainKinds   = pubsubKinds{"SUBSCRIBE", "UNSUBSCRIBE", "message", ""}
	shardedKinds = pubsubKinds{"SSUBSCRIBE", "SUNSUBSCRIBE", "smessage", "sunsubscribe"}
)

func (l *subscriber) kinds() pubsubKinds {
	if l.sharded {
		return shardedKinds
	}
	return plainKinds
}

// session runs one subscriber connection until it fails or ctx ends.
func (l *subscriber) session(ctx context.Context, h BrokerHandler) error {
	flag, canary, err := l.owner.fixedChannels()
	if err != nil {
		return err
	}
	conn, addr, err := l.owner.dialSubscriber(ctx)
	if err != nil {
		return err
	}
	l.server.Store(addr)
	defer l.server.Store("")
	kinds := l.kinds()

	// Pongs carry markers: a marker coming back proves every SUBSCRIBE sent
	// before it was applied (Redis answers a connection in order). Pong
	// markers confirm subscriptions and sunsubscribe pushes report slot
	// migrations, so neither may be dropped: the receiver blocks on them
	// until the session ends (stop).
	pongs := make(chan string, 16)
	unsubs := make(chan string, 16)
	canaries := make(chan string, 4)
	stop := make(chan struct{})
	done := make(chan error, 1)
	var delivered atomic.Int64 // unix ns of the last message of any kind
	go func() {
		for {
			reply, err := conn.Receive()
			if err != nil {
				done <- err
				return
			}
			f, _ := redis.Values(reply, nil)
			if len(f) < 2 {
				continue
			}
			kind, _ := redis.String(f[0], nil)
			channel, _ := redis.String(f[1], nil)
			var wait chan string
			switch {
			case kind == kinds.message && len(f) >= 3:
				data, _ := redis.Bytes(f[2], nil)
				delivered.Store(time.Now().UnixNano())
				switch channel {
				case flag:
					h.Flag(string(data))
				case canary:
					select {
					case canaries <- string(data):
					default:
					}
				default:
					h.Message(strings.TrimPrefix(channel, l.opt.Prefix), data)
				}
				continue
			case kind == "pong":
				wait = pongs
			case kinds.unsubscribed != "" && kind == kinds.unsubscribed:
				wait = unsubs
			default:
				continue
			}
			select {
			case wait <- channel:
			case <-stop:
			}
		}
	}()

	have := map[string]bool{}
	unsubscribing := map[string]bool{}
	wasUp := false
	defer func() {
		close(stop)
		conn.Close()
		<-done
		if !wasUp {
			return
		}
		l.up.Store(false)
		topics := make([]string, 0, len(have))
		for t := range have {
			topics = append(topics, t)
		}
		l.want.unconfirm(topics)
		l.owner.linkDown(topics, ctx.Err() != nil, h)
	}()

	// One command per fixed channel: a cluster refuses channels of several
	// slots in one SSUBSCRIBE.
	for _, ch := range []string{flag, canary} {
		if ch == "" {
			continue
		}
		if err := conn.Send(kinds.subscribe, ch); err != nil {
			return err
		}
	}
	added, err := l.sync(conn, have, unsubscribing)
	if err != nil {
		return err
	}
	// Up only once every held topic is subscribed again: a link that
	// reports up with half its channels would silently miss bumps.
	if err := send(conn, "PING", "synced"); err != nil {
		return err
	}
	if err := awaitPong(ctx, done, pongs, "synced", l.opt.ReadTimeout); err != nil {
		return err
	}
	l.want.confirm(added)
	wasUp = true
	l.up.Store(true)
	l.log.Info(l.kind+" link up", "topics", len(have), "server", addr)
	l.owner.linkUp(added, h)

	ping := time.NewTicker(l.opt.PingEvery)
	defer ping.Stop()
	canaryTick := time.NewTicker(l.opt.CanaryEvery)
	defer canaryTick.Stop()
	var canarySent time.Time // zero: no canary in flight
	canarySeq := 0
	// awaiting maps a PING marker to the topics subscribed just before it.
	awaiting := map[string][]string{}
	marker := 0
	for {
		select {
		case <-ctx.Done():
			_ = send(conn, kinds.unsubscribe)
			return ctx.Err()
		case err := <-done:
			done <- err
			return err
		case <-l.kick:
			if err := l.owner.kicked(addr); err != nil {
				return err
			}
		case <-l.dirty:
			added, err := l.sync(conn, have, unsubscribing)
			if err != nil {
				return err
			}
			if len(added) > 0 {
				marker++
				m := "sub:" + strconv.Itoa(marker)
				awaiting[m] = added
				if err := send(conn, "PING", m); err != nil {
					return err
				}
			}
		case p := <-pongs:
			if topics, ok := awaiting[p]; ok {
				delete(awaiting, p)
				l.want.confirm(topics)
				l.owner.confirmed(topics)
			}
		case ch := <-unsubs:
			t, _ := strings.CutPrefix(ch, l.opt.Prefix)
			switch {
			case unsubscribing[t]:
				delete(unsubscribing, t)
			case ch == canary || ch == flag:
				return fmt.Errorf("the slot of %s moved away", ch)
			case have[t]:
				// The slot moved to another shard (a migration): Redis
				// dropped the subscription. The new owner's link takes the
				// topic once the shard map says so.
				delete(have, t)
				l.want.unconfirm([]string{t})
				l.owner.moved([]string{t})
				l.owner.sessionFailed()
			}
		case <-ping.C:
			if !canarySent.IsZero() && time.Since(canarySent) > l.opt.CanaryTimeout {
				if delivered.Load() < canarySent.UnixNano() {
					return errors.New("canary not received back: link open but not delivering")
				}
				canarySent = time.Time{} // late, but the link delivers
			}
			if err := send(conn, "PING", ""); err != nil {
				return err
			}
		case <-canaryTick.C:
			if canarySent.IsZero() {
				canarySeq++
				canarySent = time.Now()
				go l.owner.publishCanary(canary, strconv.Itoa(canarySeq))
			}
		case c := <-canaries:
			if c == strconv.Itoa(canarySeq) && !canarySent.IsZero() {
				l.canaryLag.Store(int64(time.Since(canarySent)))
				canarySent = time.Time{}
			}
		}
	}
}

func send(conn redis.Conn, cmd string, args ...any) error {
	if err := conn.Send(cmd, args...); err != nil {
		return err
	}
	return conn.Flush()
}

// subscribeBatch bounds one SUBSCRIBE command's argument count.
const subscribeBatch = 1000

// sync brings the link's subscriptions in line with the wanted topics it
// serves now, and returns the topics it subscribed. A topic whose slot
// moved to another shard is only forgotten here: Redis drops its
// subscription itself (a sunsubscribe push), and a SUNSUBSCRIBE for a slot
// this node no longer serves would be refused.
func (l *subscriber) sync(conn redis.Conn, have, unsubscribing map[string]bool) ([]string, error) {
	prefix, w := l.opt.Prefix, l.want
	// A cluster refuses channels of several slots in one command; one
	// server takes them all in one group.
	group := func(t string) int {
		if l.sharded {
			return redisx.Slot(prefix + t)
		}
		return 0
	}
	var added, gone []string
	add, drop := map[int][]any{}, map[int][]any{}
	w.mu.Lock()
	for t := range w.want {
		if !have[t] && l.owner.serves(t) {
			g := group(t)
			add[g] = append(add[g], prefix+t)
			added = append(added, t)
			have[t] = true
		}
	}
	for t := range have {
		_, wanted := w.want[t]
		mine := l.owner.serves(t)
		switch {
		case wanted && mine:
			continue
		case !wanted && mine:
			g := group(t)
			drop[g] = append(drop[g], prefix+t)
			if l.sharded {
				unsubscribing[t] = true // its sunsubscribe push is expected
			}
		case wanted:
			gone = append(gone, t)
		}
		delete(have, t)
		delete(w.confirmed, t)
	}
	w.mu.Unlock()
	if len(gone) > 0 {
		l.owner.moved(gone)
	}
	kinds := l.kinds()
	for _, cmd := range []struct {
		name    string
		byGroup map[int][]any
	}{{kinds.subscribe, add}, {kinds.unsubscribe, drop}} {
		for _, channels := range cmd.byGroup {
			for start := 0; start < len(channels); start += subscribeBatch {
				if err := conn.Send(cmd.name, channels[start:min(start+subscribeBatch, len(channels))]...); err != nil {
					return nil, fmt.Errorf("%s: %w", strings.ToLower(cmd.name), err)
				}
			}
		}
	}
	return added, conn.Flush()
}

// awaitPong waits until the subscriber reads the PING reply carrying marker:
// Redis answers commands in order, so every SUBSCRIBE sent before that PING
// has been applied. done carries the receiver's error and is refilled for
// the session's other readers.
func awaitPong(ctx context.Context, done chan error, pongs <-chan string, marker string, limit time.Duration) error {
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			done <- err
			return err
		case p := <-pongs:
			if p == marker {
				return nil
			}
		case <-timeout.C:
			return errors.New("subscribe not confirmed in time")
		}
	}
}
