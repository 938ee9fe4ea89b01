package socketio

import (
	"log/slog"
	"time"

	"github.com/pushpoll/pushpoll/internal/ratelog"
)

// logEvery is the quietest a flood of bad input can make the log: one line
// per kind every 10s keeps a live sample of each kind visible without letting
// an attacker fill the disk. The line carries how many were suppressed.
const logEvery = 10 * time.Second

func newRateLog(l *slog.Logger) *ratelog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return ratelog.New(l.With("component", "socketio"), logEvery)
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
