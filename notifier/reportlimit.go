package notifier

import (
	"sync"
	"time"
)

// maxReportCredentials bounds the credentials whose shadow-report budget is
// remembered; past it, budgets that have refilled (nobody used them
// lately) are forgotten, which costs nothing since a new one starts full.
const maxReportCredentials = 10000

// reportLimits is the shadow-report budget per credential: a page sends
// reportBurst reports per poll at most, and one credential on many sockets
// (one token, fifty connections) must not count fifty times over in the
// figures operators switch to push on. A socket's own bucket still comes
// first, so a flood on one socket costs a bucket check, not this lock.
type reportLimits struct {
	burst int
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newReportLimits(burst int, every time.Duration) *reportLimits {
	return &reportLimits{burst: burst, every: every, buckets: map[string]*bucket{}}
}

// allow takes one report from credential's budget.
func (l *reportLimits) allow(credential string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[credential]
	if !ok {
		if len(l.buckets) >= maxReportCredentials {
			l.forgetRefilled(now)
		}
		b = newBucket(l.burst, l.every)
		l.buckets[credential] = b
	}
	return b.allow(now)
}

// forgetRefilled drops the budgets that are full again by now. If none is,
// every one goes: the bound holds, and the cost is a few extra reports.
func (l *reportLimits) forgetRefilled(now time.Time) {
	full := time.Duration(l.burst) * l.every
	for c, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, c)
		}
	}
	if len(l.buckets) >= maxReportCredentials {
		clear(l.buckets)
	}
}
