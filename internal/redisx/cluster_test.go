package redisx

import (
	"errors"
	"testing"

	"github.com/gomodule/redigo/redis"
)

func TestRedirect(t *testing.T) {
	cases := []struct {
		name             string
		err              error
		addr             string
		asking, wait, ok bool
	}{
		{"moved", redis.Error("MOVED 3999 127.0.0.1:6381"), "127.0.0.1:6381", false, false, true},
		{"ask", redis.Error("ASK 3999 127.0.0.1:6382"), "127.0.0.1:6382", true, false, true},
		{"clusterdown", redis.Error("CLUSTERDOWN The cluster is down"), "", false, true, true},
		{"tryagain", redis.Error("TRYAGAIN Multiple keys request during rehashing of slot"), "", false, true, true},
		{"other reply error", redis.Error("ERR unknown command"), "", false, false, false},
		{"moved without an address", redis.Error("MOVED 3999"), "", false, false, false},
		{"empty reply error", redis.Error(""), "", false, false, false},
		{"network error", errors.New("connection reset"), "", false, false, false},
		{"no error", nil, "", false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, asking, wait, ok := redirect(tc.err)
			if addr != tc.addr || asking != tc.asking || wait != tc.wait || ok != tc.ok {
				t.Fatalf("redirect(%v) = %q, %v, %v, %v; want %q, %v, %v, %v", tc.err, addr, asking, wait, ok, tc.addr, tc.asking, tc.wait, tc.ok)
			}
		})
	}
}

// Without a shard map no key has an owner, and OnKey says so, and asks for
// the map, rather than dialling anything.
func TestOnKeyWithoutShardMap(t *testing.T) {
	u, err := Parse("redis-cluster://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	refreshed := 0
	c := NewClusterClient(u, func() { refreshed++ })
	if got := c.Owner("pushpoll:a"); got != "" {
		t.Fatalf("owner before any shard map = %q", got)
	}
	err = c.OnKey(t.Context(), "pushpoll:a", func(redis.Conn, bool) error {
		t.Fatal("f ran without a node")
		return nil
	})
	if err == nil {
		t.Fatal("OnKey without a shard map succeeded")
	}
	if refreshed == 0 {
		t.Fatal("OnKey without a shard map did not ask for one")
	}
}
