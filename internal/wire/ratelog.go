package wire

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logEvery is the quietest a flood of bad input can make the log: one line
// per kind every 10s keeps a live sample of each kind visible without letting
// an attacker fill the disk. The line carries how many were suppressed.
const logEvery = 10 * time.Second

// rateLog logs at most one line per key every logEvery. Keys are a small
// fixed set (reject reasons), so the map stays bounded.
type rateLog struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*rateKey
}

type rateKey struct {
	last       time.Time
	suppressed int
}

func newRateLog(l *slog.Logger) *rateLog {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &rateLog{
		logger: l.With("component", "wire"),
		every:  logEvery,
		now:    time.Now,
		keys:   map[string]*rateKey{},
	}
}

func (l *rateLog) log(level slog.Level, key, msg string, attrs ...slog.Attr) {
	now := l.now()
	l.mu.Lock()
	k := l.keys[key]
	if k == nil {
		k = &rateKey{}
		l.keys[key] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < l.every {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	l.mu.Unlock()

	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// rejectLevel: refusals that only a broken or hostile client causes are
// warnings; the ones that happen in normal operation are info.
func rejectLevel(reason string) slog.Level {
	switch reason {
	case "draining", "full", "origin":
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
