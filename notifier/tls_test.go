package notifier_test

import (
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// rediss:// reaches a Redis that speaks only TLS, trusting the system's
// roots (here a throwaway CA through SSL_CERT_FILE), with an ACL user; a
// bump published through the node arrives.
func TestRedisOverTLS(t *testing.T) {
	rs, caFile := redistest.StartTLS(t)
	// Go reads the system roots once per process, at first use: no other
	// test here dials TLS before this one sets where they are.
	t.Setenv("SSL_CERT_FILE", caFile)
	must(t, rs.AddUser("notifier", "s3cret"))
	cfg := testConfig()
	cfg.RedisURL = "rediss://notifier:s3cret@" + rs.Addr
	n := startNode(t, cfg)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "tls"), map[string]int64{"tls": 0})
	waitMode(t, []*client{c}, "push", 5*time.Second)
	if code, resp := publishHTTP(t, n, publishSecret, bump("tls", 3)); code != 202 {
		t.Fatalf("publish: %d %s", code, resp)
	}
	c.waitHint("tls", 3, 5*time.Second)
	if got, err := rs.Do("GET", "pushpoll:tls"); err != nil || got != "3" {
		t.Fatalf("version table over TLS: %q %v", got, err)
	}
}
