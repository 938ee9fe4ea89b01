// Package ratelog logs at most one line per key per interval and says how
// many it held back. Everything that bad input can trigger at will (refused
// requests, malformed publishes, broken frames) is logged through it, so a
// flood of garbage keeps a live sample of each kind in the log without
// filling the disk.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxKeys bounds the key map: keys are meant to be a small fixed set
// (reasons), and this only guards against a caller building them from input.
const maxKeys = 1024

// Logger is a rate-limited front to a slog.Logger. Safe for concurrent use.
type Logger struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*key
}

type key struct {
	last       time.Time
	suppressed int
}

// New returns a Logger that writes through l at most once per key per every.
func New(l *slog.Logger, every time.Duration) *Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Logger{logger: l, every: every, now: time.Now, keys: map[string]*key{}}
}

// Log logs msg at level under key unless key was logged within the interval.
func (l *Logger) Log(level slog.Level, k, msg string, attrs ...slog.Attr) {
	now := l.now()
	l.mu.Lock()
	e := l.keys[k]
	if e == nil {
		if len(l.keys) >= maxKeys {
			clear(l.keys)
		}
		e = &key{}
		l.keys[k] = e
	}
	if !e.last.IsZero() && now.Sub(e.last) < l.every {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// Warn is Log at warning level with slog's alternating key/value arguments.
func (l *Logger) Warn(k, msg string, args ...any) {
	r := slog.Record{}
	r.Add(args...)
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	l.Log(slog.LevelWarn, k, msg, attrs...)
}
