package notifier_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// syncBuffer is a log sink the node's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestDebugLogsEachConnectSubscribeAndDisconnect(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig()
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := startNode(t, cfg)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "granted"), map[string]int64{"granted": 0, "other": 0})
	c.Close()
	waitFor(t, 10*time.Second, "disconnect logged", func() bool {
		for _, l := range logs.lines(t) {
			if l["msg"] == "socket disconnected" {
				return true
			}
		}
		return false
	})
	n.stop()
	seen := map[string]map[string]any{}
	for _, l := range logs.lines(t) {
		seen[l["msg"].(string)] = l
		for k, v := range l {
			if s, ok := v.(string); ok && strings.Contains(s, "*notifier.") {
				t.Errorf("Go type name in log: %s=%s", k, s)
			}
			if strings.HasSuffix(k, "_ms") {
				if _, ok := v.(float64); !ok {
					t.Errorf("%s = %v, want whole milliseconds", k, v)
				}
			}
			for _, old := range []string{"took", "within", "retry_in"} {
				if k == old {
					t.Errorf("duration %s without the _ms unit", k)
				}
			}
		}
	}
	if l := seen["socket connected"]; l == nil || l["transport"] != "websocket" || !strings.HasPrefix(l["remote"].(string), "127.0.0.1:") ||
		!strings.HasPrefix(fmt.Sprint(l["client"]), "127.0.0.1") {
		t.Errorf("connect line = %v", l)
	}
	if l := seen["subscribe granted"]; l == nil || l["granted"] != 1.0 || l["denied"] != 1.0 {
		t.Errorf("subscribe line = %v", l)
	} else if r, _ := l["reasons"].(map[string]any); r["other"] == nil {
		t.Errorf("subscribe line lacks the denial's reason: %v", l)
	}
	if l := seen["socket disconnected"]; l == nil || l["reason"] != "client_closed" {
		t.Errorf("disconnect line = %v", l)
	}
	if l := seen["listening"]; l == nil || l["broker"] != "local" {
		t.Errorf("listening line = %v", l)
	}
	if l := seen["drained"]; l == nil || l["took_ms"] == nil {
		t.Errorf("drained line = %v", l)
	}
}
