package main

import (
	"math"
	"sync/atomic"
)

// hist is a latency histogram in microseconds with log buckets 1% wide, so
// any percentile it reports is within 0.5% of the true sample. Recording is
// one atomic add, because thousands of reader goroutines record into the
// same histogram in the same few milliseconds of a fan-out.
//
// 1% buckets up to ~1,000 s is 2,100 counters (17 KB): few enough to keep
// one per bump in flight.
type hist struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
	n      atomic.Uint64
}

const (
	histBuckets = 2100
	histGrowth  = 1.01
)

var histScale = 1 / math.Log(histGrowth)

func bucketOf(us int64) int {
	if us < 1 {
		return 0
	}
	b := int(math.Log(float64(us))*histScale) + 1
	return min(b, histBuckets-1)
}

// bucketValue is the middle of bucket b, in microseconds.
func bucketValue(b int) float64 {
	if b == 0 {
		return 0
	}
	return math.Exp((float64(b-1) + 0.5) / histScale)
}

func (h *hist) record(us int64) {
	if us < 0 {
		// Clocks of one machine: a negative latency is rounding of the
		// publisher's timestamp, counted as zero.
		us = 0
	}
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// sparse is a histogram as it travels between processes: [bucket, count]
// pairs for the non-empty buckets, plus the exact maximum.
type sparse struct {
	Buckets [][2]uint64 `json:"buckets,omitempty"`
	N       uint64      `json:"n"`
	MaxUS   int64       `json:"max_us"`
}

func (h *hist) sparse() sparse {
	var s sparse
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(i), c})
			s.N += c
		}
	}
	s.MaxUS = h.max.Load()
	return s
}

// merge adds o into s. Bucket lists stay sorted by bucket.
func (s *sparse) merge(o sparse) {
	out := make([][2]uint64, 0, len(s.Buckets)+len(o.Buckets))
	i, j := 0, 0
	for i < len(s.Buckets) || j < len(o.Buckets) {
		switch {
		case j == len(o.Buckets) || (i < len(s.Buckets) && s.Buckets[i][0] < o.Buckets[j][0]):
			out = append(out, s.Buckets[i])
			i++
		case i == len(s.Buckets) || o.Buckets[j][0] < s.Buckets[i][0]:
			out = append(out, o.Buckets[j])
			j++
		default:
			out = append(out, [2]uint64{s.Buckets[i][0], s.Buckets[i][1] + o.Buckets[j][1]})
			i++
			j++
		}
	}
	s.Buckets = out
	s.N += o.N
	s.MaxUS = max(s.MaxUS, o.MaxUS)
}

// quantile is the nearest-rank q-quantile in milliseconds (0 when empty).
// The top sample is reported exactly, from the maximum.
func (s *sparse) quantile(q float64) float64 {
	if s.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.N)))
	rank = max(rank, 1)
	if rank >= s.N {
		return float64(s.MaxUS) / 1000
	}
	var cum uint64
	for _, b := range s.Buckets {
		cum += b[1]
		if cum >= rank {
			return math.Min(bucketValue(int(b[0])), float64(s.MaxUS)) / 1000
		}
	}
	return float64(s.MaxUS) / 1000
}
