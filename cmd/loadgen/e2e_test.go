package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	socketio "github.com/googollee/go-socket.io"

	"github.com/pushpoll/pushpoll/internal/redistest"
)

type testSubscribe struct {
	Topics map[string]int64 `json:"topics"`
}

// startRoomServer is a go-socket.io server that joins a room per topic on
// subscribe and broadcasts every Redis bump to the topic's room: enough of
// a notifier for the load generator to measure.
func startRoomServer(t *testing.T, redisURL string) string {
	t.Helper()
	srv := socketio.NewServer(nil)
	srv.OnConnect("/", func(socketio.Conn) error { return nil })
	srv.OnError("/", func(socketio.Conn, error) {})
	srv.OnDisconnect("/", func(socketio.Conn, string) {})
	srv.OnEvent("/", "subscribe", func(c socketio.Conn, req testSubscribe) map[string]any {
		granted := []string{}
		for topic := range req.Topics {
			c.Join(topic)
			granted = append(granted, topic)
		}
		return map[string]any{"granted": granted, "denied": map[string]string{}}
	})
	go func() { _ = srv.Serve() }()
	hs := httptest.NewServer(srv)

	conn, err := redis.DialURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	psc := redis.PubSubConn{Conn: conn}
	if err := psc.PSubscribe("pushpoll:*"); err != nil {
		t.Fatal(err)
	}
	if _, ok := psc.Receive().(redis.Subscription); !ok {
		t.Fatal("no PSUBSCRIBE confirmation")
	}
	go func() {
		for {
			switch m := psc.Receive().(type) {
			case redis.Message:
				var p struct {
					V int64 `json:"v"`
				}
				if json.Unmarshal(m.Data, &p) == nil {
					topic := m.Channel[len("pushpoll:"):]
					srv.BroadcastToRoom("/", topic, "stale", map[string]int64{topic: p.V})
				}
			case error:
				return
			}
		}
	}()
	t.Cleanup(func() {
		psc.Close()
		hs.Close()
		_ = srv.Close()
	})
	return hs.URL
}

func runLoadgen(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if err := run(ctx, args, nil, &out, &errb); err != nil {
		t.Fatalf("loadgen %v: %v\n%s", args, err, errb.String())
	}
	var lines []map[string]any
	dec := json.NewDecoder(&out)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestFanoutEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	url := startRoomServer(t, rs.URL)
	const sockets = 20
	lines := runLoadgen(t, "fanout", "--url", url, "--redis-url", rs.URL, "--sockets", strconv.Itoa(sockets),
		"--polling", "0.5", "--bumps", "2", "--gap", "20ms", "--wait", "10s", "--src-base", "127.0.0.2", "--per-ip", "7",
		"--server-pid", strconv.Itoa(os.Getpid())) // the server runs in this process
	var bumps int
	var summary map[string]any
	for _, l := range lines {
		switch l["type"] {
		case "bump":
			bumps++
			if l["reached"] != float64(sockets) || l["missing"] != float64(0) {
				t.Errorf("bump line %v: want all %d reached", l, sockets)
			}
			if _, ok := l["last_ms"]; !ok {
				t.Errorf("bump line %v: no last_ms", l)
			}
		case "summary":
			summary = l
		}
	}
	if bumps != 3 { // one warmup, two measured
		t.Errorf("%d bump lines, want 3", bumps)
	}
	if summary == nil || summary["missing"] != float64(0) || summary["last_ms"] == nil {
		t.Errorf("summary %v", summary)
	}
	if cpu, ok := summary["cpu_s"].(float64); !ok || cpu < 0 {
		t.Errorf("summary %v: no server CPU for the measured bumps", summary)
	}
}

func TestFanoutServerPIDPerTarget(t *testing.T) {
	_, err := parseOptions("fanout", []string{"--targets", "a=http://127.0.0.1:1,b=http://127.0.0.1:2", "--server-pid", "1"},
		func(string) string { return "secret" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "one pid per target") {
		t.Fatalf("two targets, one pid: err = %v", err)
	}
}

func TestSustainEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	url := startRoomServer(t, rs.URL)
	lines := runLoadgen(t, "sustain", "--url", url, "--redis-url", rs.URL, "--groups", "s:5:2:40,b:1:10:5",
		"--duration", "1s", "--wait", "5s", "--src-base", "127.0.0.2")
	s := lines[len(lines)-1]
	if s["type"] != "summary" {
		t.Fatalf("last line %v, want the summary", s)
	}
	if s["sockets"] != float64(10) || s["lost_sockets"] != float64(0) || s["delivered"].(float64) == 0 {
		t.Errorf("summary %v: want 10 sockets, none behind, some hints delivered", s)
	}
	if s["delivered"].(float64) > s["expected"].(float64) {
		t.Errorf("delivered %v > expected %v", s["delivered"], s["expected"])
	}
	// No socket ended behind, so the news of every bump reached every
	// holder, coalesced into a later hint or not.
	if s["news"] != s["expected"] || s["stale_p99_ms"] == nil {
		t.Errorf("news of %v bumps, want all %v expected, with their staleness", s["news"], s["expected"])
	}
}
