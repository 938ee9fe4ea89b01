package notifier

import (
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
	h := newHub(in)
	a, b := newSocket("a", &fakeConn{}), newSocket("b", &fakeConn{})
	for _, s := range []*socket{a, b} {
		h.addSocket(s)
		s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
		h.join(s, []string{"t"})
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

func TestHubFanOutOnlyToHolders(t *testing.T) {
	h := newHub(&interestLog{subs: map[string]int{}})
	ca, cb := &fakeConn{}, &fakeConn{}
	a, b := newSocket("a", ca), newSocket("b", cb)
	for _, s := range []*socket{a, b} {
		h.addSocket(s)
	}
	a.grant(map[string]int64{"x": 0}, time.Time{}, nil)
	h.join(a, []string{"x"})
	b.grant(map[string]int64{"y": 0}, time.Time{}, nil)
	h.join(b, []string{"y"})

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
