package redisx

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redistest"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestTopologyAndSlotsMatchARealCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	conn, err := redis.Dial("tcp", c.Masters[1].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	topo, err := ReadTopology(ctx, conn, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Shards) != 3 {
		t.Fatalf("%d shards, want 3: %+v", len(topo.Shards), topo.Shards)
	}
	masters := map[string]bool{}
	for _, s := range topo.Shards {
		masters[s.Master] = true
	}
	for _, m := range c.Masters {
		if !masters[m.Addr] {
			t.Fatalf("master %s missing from %+v", m.Addr, topo.Shards)
		}
	}
	for slot := range Slots {
		if topo.Shard(slot) < 0 {
			t.Fatalf("slot %d unowned", slot)
		}
	}
	for _, s := range topo.Shards {
		if s.Master == c.Masters[0].Addr && (len(s.Replicas) != 1 || s.Replicas[0] != c.Replicas[0].Addr) {
			t.Fatalf("shard of master 0 has replicas %v, want %s", s.Replicas, c.Replicas[0].Addr)
		}
	}
	keys := []string{"pushpoll:project:42", "{user1000}.following", "foo{bar}{zap}", "foo{{bar}}zap", "foo{}{bar}", "", "pushpoll:#mode"}
	for i := range 200 {
		keys = append(keys, "pushpoll:t"+itoa(i))
	}
	for _, k := range keys {
		want, err := redis.Int(conn.Do("CLUSTER", "KEYSLOT", k))
		if err != nil {
			t.Fatal(err)
		}
		if got := Slot(k); got != want {
			t.Fatalf("Slot(%q) = %d, Redis says %d", k, got, want)
		}
	}
	same, err := ReadTopology(ctx, conn, false)
	if err != nil || !same.Equal(topo) {
		t.Fatalf("a second read differs: %v", err)
	}
}
