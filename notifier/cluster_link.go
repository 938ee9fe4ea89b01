package notifier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// shardLink is the subscriber connection to one shard master: SSUBSCRIBE
// for the held topics in its slots, a canary on a sharded channel of its
// own slots, and the PING probe. It follows redigo's pub/sub example like
// the single-server broker, reading raw replies because redigo's
// PubSubConn knows nothing of the sharded kinds (smessage, ssubscribe,
// sunsubscribe).
type shardLink struct {
	b      *ClusterBroker
	addr   string
	label  atomic.Value // string: the shard's slot ranges
	cancel context.CancelFunc
	dirty  chan struct{} // cap 1: "which topics this shard serves changed"

	up         atomic.Bool
	canaryLag  atomic.Int64 // nanoseconds
	reconnects atomic.Int64
}

func newShardLink(b *ClusterBroker, addr string) *shardLink {
	l := &shardLink{b: b, addr: addr, dirty: make(chan struct{}, 1)}
	l.label.Store("")
	return l
}

func (l *shardLink) markDirty() {
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

// run keeps the link up until ctx ends (the broker stops, or this node is
// no longer a master). A failure asks for the shard map to be read again:
// after a failover a replica has the slots.
func (l *shardLink) run(ctx context.Context) {
	backoff := l.b.opt.BackoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		l.b.requestRefresh()
		if time.Since(started) > 30*time.Second {
			backoff = l.b.opt.BackoffMin
		}
		delay := backoff/2 + rand.N(backoff/2+1)
		l.b.log.Warn("cluster shard link lost, reconnecting", "shard", l.label.Load(), "node", l.addr, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		backoff = min(2*backoff, l.b.opt.BackoffMax)
		l.reconnects.Add(1)
	}
}

// canaryChannel picks a sharded channel in one of this shard's slots, so
// the canary travels the same way as the shard's bumps.
func (l *shardLink) canaryChannel() (string, error) {
	topo := l.b.topo.Load()
	for i := range 1 << 20 {
		tag := strconv.Itoa(i)
		if s := topo.Shard(redisx.Slot(tag)); s >= 0 && topo.Shards[s].Master == l.addr {
			return nodeKeyPrefix + "canary:{" + tag + "}:" + l.b.opt.NodeID, nil
		}
	}
	return "", errors.New("no slot of this shard found for the canary")
}

func (l *shardLink) session(ctx context.Context) error {
	b := l.b
	canary, err := l.canaryChannel()
	if err != nil {
		return err
	}
	conn, err := redis.DialContext(ctx, "tcp", l.addr, b.url.DialOptions(b.opt.ReadTimeout)...)
	if err != nil {
		return err
	}
	flag := b.FlagKey()
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()

	// As in the single-server session: pongs carry markers that confirm
	// subscriptions and must not be dropped, and so must sunsubscribe
	// pushes; the receiver blocks on both until the session ends (stop).
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
			switch kind {
			case "smessage":
				if len(f) < 3 {
					continue
				}
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
					h.Message(strings.TrimPrefix(channel, b.opt.Prefix), data)
				}
				continue
			case "pong":
				wait = pongs
			case "sunsubscribe":
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
		b.unconfirm(topics)
		if ctx.Err() != nil {
			b.markMoved(topics) // stopped: another master serves these slots now
		} else {
			b.reportDown(topics)
		}
	}()

	first := []any{canary}
	if b.ownerOf(flag) == l.addr {
		first = append(first, flag)
	}
	// One SSUBSCRIBE per slot: a cluster refuses channels of several slots
	// in one command.
	for _, ch := range first {
		if err := conn.Send("SSUBSCRIBE", ch); err != nil {
			return err
		}
	}
	added, err := l.sync(conn, have, unsubscribing)
	if err != nil {
		return err
	}
	if err := send(conn, "PING", "synced"); err != nil {
		return err
	}
	if err := awaitPong(ctx, done, pongs, "synced", b.opt.ReadTimeout); err != nil {
		return err
	}
	wasUp = true
	l.up.Store(true)
	b.log.Info("cluster shard link up", "shard", l.label.Load(), "node", l.addr, "topics", len(have))
	b.subscribed(added)

	ping := time.NewTicker(b.opt.PingEvery)
	defer ping.Stop()
	canaryTick := time.NewTicker(b.opt.CanaryEvery)
	defer canaryTick.Stop()
	var canarySent time.Time
	canarySeq := 0
	awaiting := map[string][]string{}
	marker := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			done <- err
			return err
		case <-l.dirty:
			added, err := l.sync(conn, have, unsubscribing)
			if err != nil {
				return err
			}
			marker++
			m := "sub:" + strconv.Itoa(marker)
			awaiting[m] = added
			if err := send(conn, "PING", m); err != nil {
				return err
			}
		case p := <-pongs:
			if topics, ok := awaiting[p]; ok {
				delete(awaiting, p)
				b.subscribed(topics)
			}
		case ch := <-unsubs:
			t, _ := strings.CutPrefix(ch, b.opt.Prefix)
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
				b.unconfirm([]string{t})
				b.markMoved([]string{t})
				b.requestRefresh()
			}
		case <-ping.C:
			if !canarySent.IsZero() && time.Since(canarySent) > b.opt.CanaryTimeout {
				if delivered.Load() < canarySent.UnixNano() {
					return errors.New("canary not received back: link open but not delivering")
				}
				canarySent = time.Time{}
			}
			if err := send(conn, "PING", ""); err != nil {
				return err
			}
		case <-canaryTick.C:
			if canarySent.IsZero() {
				canarySeq++
				canarySent = time.Now()
				go l.publishCanary(canary, strconv.Itoa(canarySeq))
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

// publishCanary sends one canary the way the app's bumps go: SPUBLISH on
// the master of its slot.
func (l *shardLink) publishCanary(channel, seq string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.b.opt.CanaryTimeout)
	defer cancel()
	_ = l.b.doKey(ctx, channel, func(c redis.Conn, _ bool) error {
		_, err := redis.DoContext(c, ctx, "SPUBLISH", channel, seq)
		return err
	})
}

// sync brings the link's subscriptions in line with the wanted topics
// this shard serves now. It returns the topics it subscribed. A topic
// whose slot moved to another shard is only forgotten here: Redis drops
// its subscription itself (a sunsubscribe push), and a SUNSUBSCRIBE for a
// slot this node no longer serves would be refused.
func (l *shardLink) sync(conn redis.Conn, have, unsubscribing map[string]bool) ([]string, error) {
	b := l.b
	var added, gone []string
	add, drop := map[int][]any{}, map[int][]any{}
	b.wantSet.mu.Lock()
	for t := range b.want {
		if !have[t] && b.ownerOf(b.opt.Prefix+t) == l.addr {
			slot := redisx.Slot(b.opt.Prefix + t)
			add[slot] = append(add[slot], b.opt.Prefix+t)
			added = append(added, t)
			have[t] = true
		}
	}
	for t := range have {
		_, wanted := b.want[t]
		mine := b.ownerOf(b.opt.Prefix+t) == l.addr
		switch {
		case wanted && mine:
			continue
		case !wanted && mine:
			slot := redisx.Slot(b.opt.Prefix + t)
			drop[slot] = append(drop[slot], b.opt.Prefix+t)
			unsubscribing[t] = true
		case wanted:
			gone = append(gone, t)
		}
		delete(have, t)
		delete(b.confirmed, t)
	}
	b.wantSet.mu.Unlock()
	b.markMoved(gone)
	for _, cmd := range []struct {
		name   string
		bySlot map[int][]any
	}{{"SSUBSCRIBE", add}, {"SUNSUBSCRIBE", drop}} {
		for _, channels := range cmd.bySlot {
			for start := 0; start < len(channels); start += subscribeBatch {
				if err := conn.Send(cmd.name, channels[start:min(start+subscribeBatch, len(channels))]...); err != nil {
					return nil, fmt.Errorf("%s: %w", strings.ToLower(cmd.name), err)
				}
			}
		}
	}
	return added, conn.Flush()
}
