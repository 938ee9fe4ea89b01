package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOneLinePerKeyPerInterval(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 10*time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 5 {
		l.Log(slog.LevelWarn, "a", "refused")
		l.Warn("b", "dropped", "reason", "bad json")
	}
	now = now.Add(10 * time.Second)
	l.Log(slog.LevelWarn, "a", "refused")
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 3 {
		t.Fatalf("%d lines, want 3 (a, b, a again):\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed=4") || !strings.Contains(out, "reason=\"bad json\"") {
		t.Fatalf("missing suppressed count or attributes:\n%s", out)
	}
}
