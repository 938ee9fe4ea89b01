package main

import (
	"math"
	"testing"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	// 1..10000 µs: the q-quantile is q·10000 µs.
	for us := int64(1); us <= 10000; us++ {
		h.record(us)
	}
	s := h.sparse()
	if s.N != 10000 || s.MaxUS != 10000 {
		t.Fatalf("n=%d max=%d, want 10000 and 10000", s.N, s.MaxUS)
	}
	for _, tc := range []struct {
		name string
		q    float64
		want float64 // ms
	}{
		{"p50", 0.50, 5},
		{"p90", 0.90, 9},
		{"p99", 0.99, 9.9},
		{"max", 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.quantile(tc.q)
			if math.Abs(got-tc.want)/tc.want > 0.01 {
				t.Errorf("quantile(%v) = %.3f ms, want %.3f ±1%%", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		us   int64
	}{
		{"negative counts as zero", -5},
		{"zero", 0},
		{"huge lands in the last bucket", 1 << 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hist
			h.record(tc.us)
			s := h.sparse()
			if s.N != 1 {
				t.Fatalf("n = %d, want 1", s.N)
			}
			if tc.us <= 0 && s.quantile(0.5) != 0 {
				t.Errorf("quantile = %v, want 0", s.quantile(0.5))
			}
		})
	}
	var empty sparse
	if empty.quantile(0.99) != 0 {
		t.Error("empty histogram: quantile should be 0")
	}
}

func TestSparseMerge(t *testing.T) {
	var a, b hist
	for us := int64(1); us <= 1000; us++ {
		a.record(us)
		b.record(us + 1000)
	}
	s := a.sparse()
	s.merge(b.sparse())
	if s.N != 2000 || s.MaxUS != 2000 {
		t.Fatalf("merged n=%d max=%d, want 2000 and 2000", s.N, s.MaxUS)
	}
	for i := 1; i < len(s.Buckets); i++ {
		if s.Buckets[i-1][0] >= s.Buckets[i][0] {
			t.Fatalf("buckets not sorted at %d: %v", i, s.Buckets[i-1:i+1])
		}
	}
	if got := s.quantile(0.5); math.Abs(got-1)/1 > 0.01 {
		t.Errorf("merged p50 = %.3f ms, want 1 ±1%%", got)
	}
}
