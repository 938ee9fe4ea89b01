package notifier_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// A Redis whose certificate comes from a private CA is reached with
// --redis-tls-ca-file, not the system's roots; a certificate for another
// name is refused unless --redis-tls-insecure-skip-verify says otherwise.
func TestRedisTLSOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	rs, caFile := redistest.StartTLS(t)
	t.Run("private CA", func(t *testing.T) {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.RedisTLS.CAFile = caFile
		n := startNode(t, cfg)
		c := dial(t, n, sioclient.Options{})
		c.subscribe(token(t, "tls"), map[string]int64{"tls": 0})
		if code, resp := publishHTTP(t, n, publishSecret, `{"topic":"tls","v":4}`); code != 202 {
			t.Fatalf("publish: %d %s", code, resp)
		}
		c.waitHint("tls", 4, 10*time.Second)
	})
	t.Run("wrong server name refused", func(t *testing.T) {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.RedisTLS = notifier.RedisTLS{CAFile: caFile, ServerName: "redis.example.com"}
		srv, err := notifier.New(cfg)
		must(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		defer func() { cancel(); <-done }()
		n := &node{srv: srv, url: "http://" + ln.Addr().String()}
		waitFor(t, 20*time.Second, "failed TLS dials counted", func() bool {
			return metricValue(t, n, `pushpoll_broker_reconnects_total{link="redis"}`) >= 2
		})
		if metricValue(t, n, `pushpoll_broker_up{link="redis"}`) != 0 {
			t.Fatal("linked to a Redis whose certificate names another host")
		}
	})
	t.Run("skip verify, for development", func(t *testing.T) {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.RedisTLS = notifier.RedisTLS{ServerName: "redis.example.com", InsecureSkipVerify: true}
		n := startNode(t, cfg)
		settled(t, n)
	})
}

func TestRedisTLSOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	cases := []struct {
		name string
		set  func(*notifier.Config)
		want string
	}{
		{"plain redis", func(c *notifier.Config) { c.RedisURL = "redis://127.0.0.1:6379"; c.RedisTLS.CAFile = notPEM }, "need a rediss:// URL"},
		{"no redis", func(c *notifier.Config) { c.RedisTLS.ServerName = "x" }, "need a Redis URL"},
		{"bad CA", func(c *notifier.Config) { c.RedisURL = "rediss://127.0.0.1:6379"; c.RedisTLS.CAFile = notPEM }, "--redis-tls-ca-file " + notPEM + ": no PEM certificate"},
		{"cert without key", func(c *notifier.Config) { c.RedisURL = "rediss://127.0.0.1:6379"; c.RedisTLS.CertFile = notPEM }, "--redis-tls-cert-file and --redis-tls-key-file go together"},
		{"sentinel password without sentinel", func(c *notifier.Config) {
			c.RedisURL = "redis://127.0.0.1:6379"
			c.SentinelPasswordFile = notPEM
		}, "needs a redis-sentinel:// URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			c.set(&cfg)
			_, err := notifier.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want %q", err, c.want)
			}
		})
	}
}
