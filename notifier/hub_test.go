package notifier

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"
)

// interestLog records what the hub asks of the broker.
type interestLog struct {
	mu   sync.Mutex
	subs map[string]int
}

func (l *interestLog) Subscribe(t string) {
	l.mu.Lock()
	l.subs[t]++
	l.mu.Unlock()
}

func (l *interestLog) Unsubscribe(t string) {
	l.mu.Lock()
	l.subs[t]--
	l.mu.Unlock()
}

func TestHubInterestIsRefcounted(t *testing.T) {
	in := &interestLog{subs: map[string]int{}}
	h := newHub(in, 0, 0)
	pool := testPool(t)
	a, b := newSocket("a", &fakeConn{}, pool), newSocket("b", &fakeConn{}, pool)
	for _, s := range []*socket{a, b} {
		h.addSocket(s)
		s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
		mustJoin(t, h, s, []string{"t"}, nil, "")
	}
	if in.subs["t"] != 1 {
		t.Fatalf("subscribes for t = %d, want 1 for two holders", in.subs["t"])
	}
	h.removeSocket(a)
	if in.subs["t"] != 1 {
		t.Fatal("unsubscribed while a holder remains")
	}
	h.removeSocket(b)
	if in.subs["t"] != 0 {
		t.Fatalf("net subscriptions = %d after last holder left, want 0", in.subs["t"])
	}
	if n, topics := h.counts(); n != 0 || topics != 0 {
		t.Fatalf("counts = %d sockets, %d topics; want 0, 0", n, topics)
	}
}

// TestHubTableReadDoesNotSwallowAFanOut: a subscriber's table read can find
// a bump before the node reads it off the channel (the publish script sets
// the key, then publishes). That read must not make the fan-out look like a
// duplicate to the holders who have not had it.
func TestHubTableReadDoesNotSwallowAFanOut(t *testing.T) {
	h := newHub(&interestLog{subs: map[string]int{}}, 0, 0)
	ca := &fakeConn{}
	a := newSocket("a", ca, testPool(t))
	h.addSocket(a)
	a.grant(map[string]int64{"x": 0}, time.Time{}, nil)
	mustJoin(t, h, a, []string{"x"}, nil, "")

	h.observe("x", 5) // another socket's subscribe read the table
	if n, fresh := h.fanOut("x", 5); n != 1 || !fresh {
		t.Fatalf("fanOut(x,5) after the read = %d,%v; want 1,true", n, fresh)
	}
	if n, fresh := h.fanOut("x", 5); n != 0 || fresh {
		t.Fatalf("the same bump again reached %d sockets (fresh=%v)", n, fresh)
	}
	waitIdle(t, a)
	if got := ca.named("stale"); len(got) != 1 || got[0] != `{"x":5}` {
		t.Fatalf("a got %v", got)
	}
}

func TestHubFanOutOnlyToHolders(t *testing.T) {
	h := newHub(&interestLog{subs: map[string]int{}}, 0, 0)
	ca, cb := &fakeConn{}, &fakeConn{}
	pool := testPool(t)
	a, b := newSocket("a", ca, pool), newSocket("b", cb, pool)
	for _, s := range []*socket{a, b} {
		h.addSocket(s)
	}
	a.grant(map[string]int64{"x": 0}, time.Time{}, nil)
	mustJoin(t, h, a, []string{"x"}, nil, "")
	b.grant(map[string]int64{"y": 0}, time.Time{}, nil)
	mustJoin(t, h, b, []string{"y"}, nil, "")

	if n, fresh := h.fanOut("x", 3); n != 1 || !fresh {
		t.Fatalf("fanOut(x,3) = %d,%v; want 1,true", n, fresh)
	}
	if n, fresh := h.fanOut("x", 2); n != 0 || fresh {
		t.Fatalf("older bump reached %d sockets (fresh=%v)", n, fresh)
	}
	if n, _ := h.fanOut("nobody", 1); n != 0 {
		t.Fatal("bump for a topic without holders reached a socket")
	}
	waitIdle(t, a)
	waitIdle(t, b)
	if got := ca.named("stale"); len(got) != 1 || got[0] != `{"x":3}` {
		t.Fatalf("a got %v", got)
	}
	if got := cb.named("stale"); len(got) != 0 {
		t.Fatalf("b got %v for a topic it does not hold", got)
	}
	names := h.topicNames()
	sort.Strings(names)
	if len(names) != 2 || names[0] != "x" || names[1] != "y" {
		t.Fatalf("topics = %v", names)
	}
}

// mustJoin grants topics to s and joins it to them, as a subscribe does.
func mustJoin(t *testing.T, h *hub, s *socket, topics, byPrefix []string, cred string) {
	t.Helper()
	held := map[string]int64{}
	for _, topic := range topics {
		held[topic] = 0
	}
	s.grant(held, time.Time{}, nil)
	if _, err := h.join(s, topics, byPrefix, cred); err != nil {
		t.Fatal(err)
	}
}

// reloadInterest passes the hub's interest calls to a real wantSet, and
// plays a page reload at the one moment it could hurt: as the old socket's
// Unsubscribe for a topic's last holder is on its way, the new socket joins
// that topic and its Subscribe arrives first.
type reloadInterest struct {
	*wantSet
	h      *hub
	joiner *socket
}

func (r *reloadInterest) Unsubscribe(t string) {
	if j := r.joiner; j != nil {
		r.joiner = nil
		j.grant(map[string]int64{t: 0}, time.Time{}, nil)
		if _, err := r.h.join(j, []string{t}, nil, ""); err != nil {
			panic(err)
		}
	}
	r.wantSet.Unsubscribe(t)
}

// TestHubInterestSurvivesAReload: the broker must stay subscribed to a
// topic the hub holds, whatever order a reload's calls arrive in.
func TestHubInterestSurvivesAReload(t *testing.T) {
	w := newWantSet(time.Hour, func(string) {})
	in := &reloadInterest{wantSet: &w}
	h := newHub(in, 0, 0)
	in.h = h
	old, fresh := newSocket("old", &fakeConn{}, testPool(t)), newSocket("new", &fakeConn{}, testPool(t))
	mustJoin(t, h, old, []string{"t"}, nil, "")
	in.joiner = fresh
	h.leave(old, old.drop([]string{"t"}))
	if in.joiner != nil {
		t.Fatal("the reload did not run")
	}
	if _, topics := h.counts(); topics != 1 {
		t.Fatalf("hub holds %d topics, want t", topics)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.want["t"]; e == nil || e.linger != nil {
		t.Fatalf("the broker lets go of t (entry %+v) while the hub holds it", e)
	}
}

// Every order of one topic's calls ends where the count says.
func TestWantSetCountsCalls(t *testing.T) {
	tests := []struct {
		name   string
		calls  string // s: Subscribe, u: Unsubscribe
		wanted bool   // wanted for good, not lingering
	}{
		{"held", "s", true},
		{"left", "su", false},
		{"reload in order", "sus", true},
		{"reload crossed", "ssu", true},
		{"unsubscribe overtook its subscribe", "us", false},
		{"reload after an overtaken pair", "uss", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWantSet(time.Hour, func(string) {})
			for _, c := range tt.calls {
				if c == 's' {
					w.Subscribe("t")
				} else {
					w.Unsubscribe("t")
				}
			}
			e := w.want["t"]
			if got := e != nil && e.holders > 0 && e.linger == nil; got != tt.wanted {
				t.Errorf("wanted = %v (entry %+v), want %v", got, e, tt.wanted)
			}
			if !tt.wanted && e != nil && e.linger == nil {
				t.Errorf("not wanted, yet no linger will ever drop it: %+v", e)
			}
		})
	}
}

func TestHubTopicLimits(t *testing.T) {
	in := &interestLog{subs: map[string]int{}}
	h := newHub(in, 4, 2)
	a, b, c := newSocket("a", &fakeConn{}, testPool(t)), newSocket("b", &fakeConn{}, testPool(t)), newSocket("c", &fakeConn{}, testPool(t))

	mustJoin(t, h, a, []string{"p:1", "p:2"}, []string{"p:1", "p:2"}, "sub:u")
	// Another socket of the same credential holding the same topics adds
	// nothing to its count; a third invented topic would.
	mustJoin(t, h, b, []string{"p:1"}, []string{"p:1"}, "sub:u")
	if _, err := h.join(b, []string{"p:3"}, []string{"p:3"}, "sub:u"); !errors.Is(err, errPrefixTopics) {
		t.Fatalf("third prefix topic: err = %v, want errPrefixTopics", err)
	}
	// Another credential, and exact grants, have their own room.
	mustJoin(t, h, c, []string{"p:3", "x"}, []string{"p:3"}, "sub:v")
	if _, err := h.join(c, []string{"y"}, nil, "sub:v"); !errors.Is(err, errNodeTopics) {
		t.Fatalf("fifth topic on a node of four: err = %v, want errNodeTopics", err)
	}
	if _, topics := h.counts(); topics != 4 || in.subs["y"] != 0 {
		t.Fatalf("a refused join left %d topics, y subscribed %d times", topics, in.subs["y"])
	}
	// Leaving gives the room back.
	h.leave(a, a.drop([]string{"p:1", "p:2"}))
	h.leave(b, b.drop([]string{"p:1"}))
	mustJoin(t, h, b, []string{"p:4", "p:5"}, []string{"p:4", "p:5"}, "sub:u")
	if len(h.prefixed["sub:u"]) != 2 {
		t.Fatalf("sub:u holds %v by prefix, want p:4 and p:5", h.prefixed["sub:u"])
	}
	h.removeSocket(b)
	h.removeSocket(c)
	if len(h.prefixed) != 0 {
		t.Fatalf("prefix counts left after every socket went: %v", h.prefixed)
	}
}

// A socket that closes while its subscribe is between grant and join must not
// be left holding the topics it was granted.
func TestHubJoinAfterCloseHoldsNothing(t *testing.T) {
	in := &interestLog{subs: map[string]int{}}
	h := newHub(in, 0, 0)
	s := newSocket("a", &fakeConn{}, testPool(t))
	h.addSocket(s)
	added := s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
	h.removeSocket(s) // the disconnect overtakes the subscribe
	if _, err := h.join(s, added, added, "sub:u"); !errors.Is(err, errSocketGone) {
		t.Fatalf("join after close: err = %v, want errSocketGone", err)
	}
	if _, topics := h.counts(); topics != 0 {
		t.Fatalf("%d topics held after the only socket closed, want 0", topics)
	}
	if in.subs["t"] != 0 || len(h.prefixed) != 0 {
		t.Fatalf("net subscriptions %d, prefix credentials %d; want 0, 0", in.subs["t"], len(h.prefixed))
	}
}
