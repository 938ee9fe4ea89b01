package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// trustServer is a node with only the parts link events touch: the hub,
// an in-process broker whose table the test fills, and metrics.
func trustServer(t *testing.T, spread time.Duration) (*Server, *LocalBroker) {
	t.Helper()
	b := NewLocalBroker()
	s := &Server{
		cfg:    Config{ResyncSpread: spread, FastInterval: time.Second, SlowInterval: time.Minute},
		log:    slog.New(slog.DiscardHandler),
		broker: b,
		hub:    newHub(b, 0, 0),
	}
	s.flag.Swap(ModePush)
	s.trust = &linkTrust{cfg: s.cfg, log: s.log, hub: s.hub, broker: b, flag: &s.flag}
	s.m = newMetrics(s)
	s.trust.m = s.m
	s.trust.trusted.Store(true)
	return s, b
}

// fannedOut counts the topics whose newest version reached their holders.
func fannedOut(s *Server, topics []string, v int64) int {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	n := 0
	for _, t := range topics {
		if e := s.hub.topics[t]; e != nil && e.sent == v {
			n++
		}
	}
	return n
}

// lastMode is the mode in the last mode notice a connection got.
func lastMode(c *fakeConn) string {
	modes := c.named("mode")
	if len(modes) == 0 {
		return ""
	}
	_, after, _ := strings.Cut(modes[len(modes)-1], `"mode":"`)
	mode, _, _ := strings.Cut(after, `"`)
	return mode
}

// One outage event and one resync path: after a cluster shard comes back,
// its topics' hints are spread over ResyncSpread exactly as after the whole
// link (DESIGN §4), and their holders are told push only once resynced.
func TestResyncIsSpreadForAShardAsForTheWholeLink(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shard bool
	}{{"whole link", false}, {"one shard", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const spread = 2 * time.Second
				s, b := trustServer(t, spread)
				pool := newWriterPool(1, nil)
				defer pool.stop()
				conn := &fakeConn{}
				sk := newSocket("a", conn, pool)
				s.hub.addSocket(sk)
				topics := make([]string, 100)
				for i := range topics {
					topics[i] = fmt.Sprintf("t:%d", i)
					b.versions[topics[i]] = 5
				}
				mustJoin(t, s.hub, sk, topics, nil, "")
				var scope []string
				if tc.shard {
					scope = topics
				}

				s.Link(LinkEvent{Topics: scope})
				synctest.Wait()
				if m := lastMode(conn); m != "poll" {
					t.Fatalf("mode after the outage = %q, want poll", m)
				}
				s.Link(LinkEvent{Up: true, Topics: scope})
				synctest.Wait()
				if n := fannedOut(s, topics, 5); n == 0 || n > len(topics)/4 {
					t.Fatalf("%d of %d topics hinted at once; want a few, the rest spread over %v", n, len(topics), spread)
				}
				if m := lastMode(conn); m != "poll" {
					t.Fatalf("mode while resyncing = %q, want poll", m)
				}
				time.Sleep(spread / 2)
				synctest.Wait()
				if n := fannedOut(s, topics, 5); n < len(topics)/4 || n == len(topics) {
					t.Fatalf("%d of %d topics hinted half-way through the spread", n, len(topics))
				}
				time.Sleep(spread)
				synctest.Wait()
				if n := fannedOut(s, topics, 5); n != len(topics) {
					t.Fatalf("%d of %d topics hinted after the spread", n, len(topics))
				}
				if m := lastMode(conn); m != "push" {
					t.Fatalf("mode after the resync = %q, want push", m)
				}
			})
		})
	}
}

// A link event voids what the node knew complete of the topics it covers,
// and only those: a shard's event leaves other shards' topics complete.
func TestLinkEventVoidsCompleteVersions(t *testing.T) {
	s, _ := trustServer(t, 0)
	pool := testPool(t)
	sk := newSocket("a", &fakeConn{}, pool)
	s.hub.addSocket(sk)
	mustJoin(t, s.hub, sk, []string{"a", "b"}, nil, "")
	mark := func() {
		s.hub.markComplete([]string{"a", "b"}, s.hub.linkEpoch())
	}
	mark()
	if !s.hub.complete([]string{"a", "b"}) {
		t.Fatal("not complete after markComplete")
	}
	s.hub.linkEvent([]string{"a"})
	if s.hub.complete([]string{"a"}) || !s.hub.complete([]string{"b"}) {
		t.Fatal("a shard's event must void a's mark and keep b's")
	}
	mark()
	s.hub.linkEvent(nil)
	if s.hub.complete([]string{"a"}) || s.hub.complete([]string{"b"}) {
		t.Fatal("a whole-link event must void every mark")
	}
	// A mark whose epoch was captured before an event counts for nothing.
	e := s.hub.linkEpoch()
	s.hub.linkEvent([]string{"b"})
	s.hub.markComplete([]string{"a", "b"}, e)
	if s.hub.complete([]string{"a"}) {
		t.Fatal("a mark captured before an event was kept")
	}
}

// loadingTable is a broker whose version table refuses the first reads,
// as Redis does with LOADING while it loads its dataset after a restart.
type loadingTable struct {
	*LocalBroker
	refusals int
}

func (b *loadingTable) Versions(ctx context.Context, topics []string) (map[string]int64, error) {
	if b.refusals > 0 {
		b.refusals--
		return nil, errors.New("LOADING Redis is loading the dataset in memory")
	}
	return b.LocalBroker.Versions(ctx, topics)
}

// A table that refuses reads for a moment after the link came back delays
// the resync; it does not turn it into "poll to be sure" for every holder.
func TestResyncWaitsOutATableStillLoading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, local := trustServer(t, 0)
		b := &loadingTable{LocalBroker: local, refusals: 3}
		s.broker, s.trust.broker = b, b
		pool := newWriterPool(1, nil)
		defer pool.stop()
		sk := newSocket("a", &fakeConn{}, pool)
		s.hub.addSocket(sk)
		mustJoin(t, s.hub, sk, []string{"t"}, nil, "")
		local.versions["t"] = 5

		s.Link(LinkEvent{})
		s.Link(LinkEvent{Up: true})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := fannedOut(s, []string{"t"}, 5); n != 1 {
			t.Fatalf("after the table loaded, t was not hinted its version 5 (sent %d)", s.hub.topics["t"].sent)
		}
		if b.refusals != 0 {
			t.Fatalf("%d refusals left: the resync gave up reading", b.refusals)
		}
	})
}
