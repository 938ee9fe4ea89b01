package redisx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/redisx"
)

// Sentinels are dialled with their own password (SentinelCreds), never the
// data nodes'. A redis-server whose default user has a password stands in
// for a sentinel with requirepass: the AUTH is the same.
func TestDialSentinelAuthenticates(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	rs := redistest.Start(t)
	if _, err := rs.Do("ACL", "SETUSER", "default", "on", ">sentinel-pw"); err != nil {
		t.Fatal(err)
	}
	u, err := redisx.Parse("redis-sentinel://data-user:data-pw@" + rs.Addr + "/mymaster")
	if err != nil {
		t.Fatal(err)
	}
	ping := func(u redisx.URL) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := u.DialSentinel(ctx, rs.Addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = redis.DoContext(c, ctx, "PING")
		return err
	}
	if err := ping(u); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("without SentinelCreds: %v, want NOAUTH (and the data credentials not sent)", err)
	}
	u.SentinelCreds = redisx.NewCredentials("", "wrong")
	if err := ping(u); err == nil {
		t.Error("a wrong sentinel password was accepted")
	}
	u.SentinelCreds.Set("", "sentinel-pw")
	if err := ping(u); err != nil {
		t.Errorf("with the sentinel password: %v", err)
	}
}
