package notifier_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// With --version-ttl, publishes set the key's lifetime (HTTP publish and
// publish.lua's ARGV[4] for helpers), and a subscriber of a topic the table
// does not know is told to poll: the key may have expired with a bump the
// client missed.
func TestVersionTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	cfg.VersionTTL = 2 * time.Hour
	n := startNode(t, cfg)
	settled(t, n)

	if code, body := publishHTTP(t, n, publishSecret, `{"topic":"kept","v":3}`); code != 202 {
		t.Fatalf("publish = %d %s", code, body)
	}
	ttl, err := rs.Do("TTL", "pushpoll:kept")
	must(t, err)
	if s, _ := strconv.Atoi(ttl); s <= 7000 || s > 7200 {
		t.Errorf("TTL of a published key = %s s, want about 7200", ttl)
	}
	// A helper's form: ARGV[3] PUBLISH, ARGV[4] seconds.
	if _, err := rs.Do("EVAL", notifier.PublishScript, "1", "pushpoll:helper", "5", `{"v":5}`, "PUBLISH", "60"); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := rs.Do("TTL", "pushpoll:helper"); ttl != "60" {
		t.Errorf("TTL through ARGV[4] = %s, want 60", ttl)
	}
	if _, err := rs.Do("EVAL", notifier.PublishScript, "1", "pushpoll:helper", "6", `{"v":6}`, "PUBLISH", "1.5"); err == nil || !strings.Contains(err.Error(), "ttl must be whole seconds") {
		t.Errorf("fractional ttl = %v, want refused", err)
	}

	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "kept", "gone"), map[string]int64{"kept": 3, "gone": 7})
	c.waitHint("gone", 0, 10*time.Second)
	for _, h := range c.stale() {
		if _, ok := h["kept"]; ok {
			t.Errorf("hint for a topic the table knows at the client's version: %v", h)
		}
	}
	// The first subscribe marked the node's versions of "gone" complete
	// before its ack, so a second holder is answered from the hub, not the
	// table: it too must poll.
	again := dial(t, n, sioclient.Options{})
	again.subscribe(token(t, "gone"), map[string]int64{"gone": 7})
	again.waitHint("gone", 0, 10*time.Second)
}

// Without a TTL a missing key means "never bumped": no hint.
func TestNoVersionTTLNoUnknownPoll(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	n := startNode(t, cfg)
	settled(t, n)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "never"), map[string]int64{"never": 7})
	// A bump after the subscribe arrives; had a v 0 hint been queued
	// before it, it would be first.
	publishHTTP(t, n, publishSecret, `{"topic":"never","v":8}`)
	c.waitHint("never", 8, 10*time.Second)
	if got := c.stale(); len(got) != 1 {
		t.Errorf("hints = %v, want only the bump", got)
	}
}

func TestVersionTTLRefused(t *testing.T) {
	for name, c := range map[string]struct {
		ttl   time.Duration
		redis bool
		want  string
	}{
		"no redis":       {24 * time.Hour, false, "--version-ttl needs Redis"},
		"too short":      {time.Minute, true, "--version-ttl 1m0s is out of range"},
		"not whole secs": {time.Hour + time.Millisecond, true, "whole seconds"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.VersionTTL = c.ttl
			if c.redis {
				cfg.RedisURL = "redis://127.0.0.1:1"
			}
			_, err := notifier.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want %q", err, c.want)
			}
		})
	}
}
