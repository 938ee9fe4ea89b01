package notifier

import (
	"bytes"
	"testing"
	"time"
)

// A client that stopped reading never holds a pool writer: with a pool of
// one, the other sockets' hints keep flowing while it is stuck, and it gets
// what it missed, coalesced, once it reads again.
func TestStuckClientDoesNotHoldThePoolWriter(t *testing.T) {
	pool := testPool(t)
	stuck := &fakeConn{block: make(chan struct{})}
	s := newSocket("stuck", stuck, pool)
	s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
	others := make([]*fakeConn, 3)
	sockets := make([]*socket, 3)
	for i := range others {
		others[i] = &fakeConn{}
		sockets[i] = newSocket("other", others[i], pool)
		sockets[i].grant(map[string]int64{"t": 0}, time.Time{}, nil)
	}
	for v := int64(1); v <= 50; v++ {
		s.hint("t", v) // the stuck socket first, every time
		for _, o := range sockets {
			o.hint("t", v)
		}
		for i, o := range sockets {
			waitIdle(t, o)
			if got := others[i].named("stale"); len(got) != int(v) {
				t.Fatalf("bump %d: a healthy socket got %d hints while another is stuck", v, len(got))
			}
		}
	}
	close(stuck.block)
	waitIdle(t, s)
	if got := stuck.named("stale"); len(got) != 2 || got[0] != `{"t":1}` || got[1] != `{"t":50}` {
		t.Fatalf("stuck socket got %v, want the first hint and then the newest", got)
	}
}

// A bump's single-topic hint is framed once for all its recipients, and
// that frame is byte for byte what a socket would have encoded itself;
// a coalesced batch of several topics gets a frame of its own.
func TestSharedHintFrame(t *testing.T) {
	pool := testPool(t)
	h := newHub(&interestLog{subs: map[string]int{}}, 0, 0)
	conns := []*fakeConn{{}, {}, {}}
	var sockets []*socket
	for i, c := range conns {
		s := newSocket(string(rune('a'+i)), c, pool)
		h.addSocket(s)
		s.grant(map[string]int64{"acct:7": 0, "other": 0}, time.Time{}, nil)
		mustJoin(t, h, s, []string{"acct:7", "other"}, nil, "")
		sockets = append(sockets, s)
	}
	h.fanOut("acct:7", 1234567)
	for _, s := range sockets {
		waitIdle(t, s)
	}

	// What a socket encodes on its own, for a hint that came with no
	// shared frame (a catch-up after subscribe).
	own := &fakeConn{}
	alone := newSocket("alone", own, pool)
	alone.grant(map[string]int64{"acct:7": 0}, time.Time{}, nil)
	alone.hint("acct:7", 1234567)
	waitIdle(t, alone)
	want := own.frames[0]

	shared := newSharedHint("acct:7", 1234567, 0).frame.Bytes()
	if !bytes.Equal(shared, want) {
		t.Fatalf("shared frame %q, a socket's own %q", shared, want)
	}
	for i, c := range conns {
		if len(c.frames) != 1 || !bytes.Equal(c.frames[0], want) {
			t.Fatalf("socket %d was sent %q, want %q", i, c.frames, want)
		}
	}

	// Several pending topics: the socket's own frame, not the bump's.
	b := sockets[0]
	b.mu.Lock() // a pending hint the writer has not taken yet
	b.hints.put("other", 5)
	b.mu.Unlock()
	h.fanOut("acct:7", 1234568)
	waitIdle(t, b)
	if got := conns[0].named("stale"); len(got) != 2 || got[1] != `{"acct:7":1234568,"other":5}` {
		t.Fatalf("coalesced batch sent as %v", got)
	}
}
