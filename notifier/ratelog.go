package notifier

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog logs at most one line per key per interval and counts what it
// held back. Anything a client or publisher can trigger at will goes
// through it, so bad input cannot flood the logs.
type rateLog struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newRateLog(log *slog.Logger, interval time.Duration) *rateLog {
	return &rateLog{log: log, interval: interval, last: make(map[string]time.Time), held: make(map[string]int)}
}

// Warn logs msg under key unless key was logged within the interval.
func (r *rateLog) Warn(key, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.last[key]) < r.interval {
		r.held[key]++
		r.mu.Unlock()
		return
	}
	suppressed := r.held[key]
	r.last[key] = now
	delete(r.held, key)
	if len(r.last) > 1024 {
		// Keys are a small fixed set of reasons; this only guards against a
		// caller that builds keys from input.
		clear(r.last)
	}
	r.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.log.Warn(msg, args...)
}
