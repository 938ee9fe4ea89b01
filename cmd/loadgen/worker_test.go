package main

import (
	"testing"
)

func TestNextPair(t *testing.T) {
	type pair struct {
		k string
		v int64
	}
	for _, tc := range []struct {
		name string
		in   string
		want []pair
	}{
		{"one", `{"a:1":17}`, []pair{{"a:1", 17}}},
		{"several", `{"a":1, "b" : 22,"c":0}`, []pair{{"a", 1}, {"b", 22}, {"c", 0}}},
		{"empty", `{}`, nil},
		{"not a number", `{"a":"x"}`, nil},
		{"truncated", `{"a`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []pair
			rest := []byte(tc.in)
			for {
				k, v, r, ok := nextPair(rest)
				if !ok {
					break
				}
				got = append(got, pair{string(k), v})
				rest = r
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("pair %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// newTestWorker is a worker with one socket holding topics, without any
// connection.
func newTestWorker(topics ...string) (*worker, *sock) {
	w := &worker{tids: map[string]int32{}, bumps: map[int64]*hist{}}
	w.cfg.PerBump = true
	s := &sock{w: w}
	for _, t := range topics {
		tid := int32(len(w.topics))
		w.tids[t] = tid
		w.topics = append(w.topics, t)
		w.holders = append(w.holders, 1)
		s.slots = append(s.slots, slot{tid: tid})
	}
	w.socks = []*sock{s}
	return w, s
}

func TestOnStaleAccounting(t *testing.T) {
	w, s := newTestWorker("a", "b")
	s.onStale([]byte(`{"a":1000,"b":2000,"other":5}`), 1500)
	s.onStale([]byte(`{"a":1000}`), 1600) // repeat: a duplicate
	s.onStale([]byte(`{"b":0}`), 1700)    // v 0: poll to be sure
	if d, dup, z := w.delivered.Load(), w.dup.Load(), w.zero.Load(); d != 2 || dup != 1 || z != 1 {
		t.Errorf("delivered/dup/zero = %d/%d/%d, want 2/1/1", d, dup, z)
	}
	if got := w.reached(0, 1000); got != 1 {
		t.Errorf("reached(a, 1000) = %d, want 1", got)
	}
	h := w.bumps[1000].sparse()
	if h.N != 1 || h.MaxUS != 500 {
		t.Errorf("bump 1000: n=%d max=%dµs, want 1 and 500", h.N, h.MaxUS)
	}
	// A hint read before its publish time (clock rounding) counts as 0.
	if h := w.bumps[2000].sparse(); h.MaxUS != 0 {
		t.Errorf("bump 2000: max=%dµs, want 0", h.MaxUS)
	}
}

func TestOnStaleDoesNotAllocate(t *testing.T) {
	w, s := newTestWorker("topic:1")
	w.cfg.PerBump = false
	v := int64(1)
	msg := []byte(`{"topic:1":00000000000000000000}`)
	allocs := testing.AllocsPerRun(1000, func() {
		v++
		// Rewrite the digits in place: every call delivers a newer version.
		x := v
		for i := len(msg) - 2; i >= len(msg)-21; i-- {
			msg[i] = byte('0' + x%10)
			x /= 10
		}
		s.onStale(msg, v+10)
	})
	if allocs != 0 {
		t.Errorf("onStale allocates %.1f times per hint, want 0", allocs)
	}
	if w.delivered.Load() == 0 {
		t.Error("nothing delivered")
	}
}

// TestNewsOf: a hint raising a socket from prev to v brings the news of every
// bump published in (prev, v], each as stale as its own publish time makes it.
func TestNewsOf(t *testing.T) {
	topics := []string{"a", "b"}
	published := map[string][]int64{"a": {100, 200, 300, 400}, "b": {150}}
	hints := []newsHint{
		{tid: 0, prev: 0, v: 100, at: 110},    // one bump, 10 µs
		{tid: 0, prev: 100, v: 300, at: 1300}, // 200 and 300 coalesced: 1100 and 1000 µs
		{tid: 1, prev: 0, v: 150, at: 160},    // 10 µs
		// a's 400 never arrived
	}
	n, h := newsOf(hints, topics, published)
	if n != 4 {
		t.Fatalf("news of %d bumps, want 4", n)
	}
	if h.MaxUS != 1100 {
		t.Errorf("stalest %d µs, want 1100", h.MaxUS)
	}
	if q := h.quantile(0.5); q < 0.009 || q > 0.011 { // in ms
		t.Errorf("median %v ms, want ~0.010", q)
	}
}
