package notifier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/redisx"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// shardOf maps each topic to the index in c.Masters of the master serving
// its key, as the cluster itself says.
func shardOf(t *testing.T, c *redistest.Cluster, topics []string) map[string]int {
	t.Helper()
	conn, err := redis.Dial("tcp", c.Masters[0].Addr)
	must(t, err)
	defer conn.Close()
	topo, err := redisx.ReadTopology(context.Background(), conn, false)
	must(t, err)
	index := map[string]int{}
	for i, m := range c.Masters {
		index[m.Addr] = i
	}
	out := map[string]int{}
	for _, topic := range topics {
		out[topic] = index[topo.Shards[topo.Shard(redisx.Slot("pushpoll:"+topic))].Master]
	}
	return out
}

// modes counts the mode events a client got, by mode.
func modes(c *client) map[string]int {
	out := map[string]int{}
	for _, raw := range c.named("mode") {
		var m struct{ Mode string }
		_ = json.Unmarshal(raw, &m)
		out[m.Mode]++
	}
	return out
}

// One cluster of three shards (the first with a replica) carries a node
// through everything DESIGN §8 asks of it: 100 topics over all shards,
// catch-up from the version table on each topic's shard, SPUBLISH on each
// shard, an HTTP batch split by shard, a held topic's slot migrated to
// another shard, and a master killed and replaced by its replica while the
// other shards' sockets stay in push.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	for _, s := range c.All() {
		must(t, s.AddUser("notifier", "s3cret"))
	}
	cfg := testConfig()
	cfg.RedisURL = strings.Replace(c.URL, "://", "://notifier:s3cret@", 1)
	cfg.AdminSecret = adminSecret
	n := startNode(t, cfg)

	var topics []string
	for i := range 100 {
		topics = append(topics, "c:"+strconv.Itoa(i))
	}
	shard := shardOf(t, c, topics)
	byShard := make([][]string, len(c.Masters))
	for _, topic := range topics {
		byShard[shard[topic]] = append(byShard[shard[topic]], topic)
	}
	for i, ts := range byShard {
		if len(ts) == 0 {
			t.Fatalf("no topic on shard %d", i)
		}
	}
	master := func(topic string) *redistest.Server { return c.Masters[shard[topic]] }

	// Catch-up: the table on each topic's own shard knows version 2.
	for _, topic := range topics {
		_, err := master(topic).Do("SET", "pushpoll:"+topic, "2")
		must(t, err)
	}
	clients := make([]*client, len(c.Masters))
	for i, ts := range byShard {
		clients[i] = dial(t, n, sioclient.Options{})
		held := map[string]int64{}
		for _, topic := range ts {
			held[topic] = 1
		}
		if a := clients[i].subscribe(token(t, "c:*"), held); len(a.Granted) != len(ts) {
			t.Fatalf("shard %d: granted %d of %d", i, len(a.Granted), len(ts))
		}
	}
	waitMode(t, clients, "push", 5*time.Second)
	for _, topic := range topics {
		clients[shard[topic]].waitHint(topic, 2, 5*time.Second)
	}

	// SPUBLISH through the script on each topic's shard.
	for _, topic := range topics {
		_, err := master(topic).Do("EVAL", notifier.PublishScript, "1", "pushpoll:"+topic, "3", `{"v":3}`, "SPUBLISH")
		must(t, err)
	}
	for _, topic := range topics {
		clients[shard[topic]].waitHint(topic, 3, 5*time.Second)
	}

	// One HTTP batch over every shard.
	var batch []map[string]any
	for _, topic := range topics {
		batch = append(batch, map[string]any{"topic": topic, "v": 4})
	}
	body, _ := json.Marshal(batch)
	if code, resp := publishHTTP(t, n, publishSecret, string(body)); code != http.StatusAccepted || resp != `{"raised":100,"received":100}` {
		t.Fatalf("batch publish: %d %s", code, resp)
	}
	for _, topic := range topics {
		clients[shard[topic]].waitHint(topic, 4, 5*time.Second)
	}

	t.Run("feature flag", func(t *testing.T) {
		clusterFlag(t, c, n, clients)
	})
	t.Run("slot migration", func(t *testing.T) {
		migrateHeldTopic(t, c, n, clients[1], byShard[1][0])
	})
	t.Run("master failover", func(t *testing.T) {
		failoverShard(t, c, n, clients, byShard)
	})
}

// migrateHeldTopic moves the slot of a topic held by cl from its master
// (Masters[1]) to Masters[2], the way redis-cli --cluster reshard does,
// with a bump published while the slot is migrating; both that bump and
// one after the move reach the holder.
func migrateHeldTopic(t *testing.T, c *redistest.Cluster, n *node, cl *client, topic string) {
	src, dst := c.Masters[1], c.Masters[2]
	key := "pushpoll:" + topic
	slot := strconv.Itoa(redisx.Slot(key))
	srcID, err := src.Do("CLUSTER", "MYID")
	must(t, err)
	dstID, err := dst.Do("CLUSTER", "MYID")
	must(t, err)
	_, err = dst.Do("CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
	must(t, err)
	_, err = src.Do("CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
	must(t, err)
	host, port, _ := splitHostPort(dst.Addr)
	_, err = src.Do("MIGRATE", host, port, "", "0", "5000", "KEYS", key)
	must(t, err)
	// The key has left: this publish is answered ASK and lands on the
	// importing node, where nobody has subscribed yet.
	if code, resp := publishHTTP(t, n, publishSecret, bump(topic, 40)); code != http.StatusAccepted {
		t.Fatalf("publish while migrating: %d %s", code, resp)
	}
	for _, s := range []*redistest.Server{dst, src, c.Masters[0]} {
		_, err = s.Do("CLUSTER", "SETSLOT", slot, "NODE", dstID)
		must(t, err)
	}
	moved := time.Now()
	cl.waitHint(topic, 40, 10*time.Second) // caught up from the table on the new shard
	t.Logf("bump published mid-migration reached its holder %v after the slot moved", time.Since(moved).Round(time.Millisecond))
	if code, resp := publishHTTP(t, n, publishSecret, bump(topic, 50)); code != http.StatusAccepted {
		t.Fatalf("publish after migration: %d %s", code, resp)
	}
	cl.waitHint(topic, 50, 5*time.Second)
	if m := modes(cl); m["poll"] != 0 {
		t.Fatalf("a migration must not put the holder in poll: modes %v", m)
	}
}

// failoverShard kills Masters[0]; its replica is promoted. Only the
// sockets holding that shard's topics leave push, and come back to it;
// the others never leave it and keep getting bumps meanwhile.
func failoverShard(t *testing.T, c *redistest.Cluster, n *node, clients []*client, byShard [][]string) {
	label := ""
	for _, line := range splitLines(metric(t, n, "pushpoll_broker_up")) {
		var lo int
		if _, err := fmt.Sscanf(line, `pushpoll_broker_up{link="shard:%d-`, &lo); err == nil && lo == 0 {
			label = line[:len(line)-2]
		}
	}
	if label == "" {
		t.Fatalf("no shard starting at slot 0 in %q", metric(t, n, "pushpoll_broker_up"))
	}
	before := []map[string]int{modes(clients[0]), modes(clients[1]), modes(clients[2])}
	killed := time.Now()
	c.Masters[0].Kill()
	waitMode(t, clients[:1], "poll", 5*time.Second)
	if got := metric(t, n, label); got != label+" 0" {
		t.Fatalf("metrics with the shard down: %q", got)
	}
	if code := readyStatus(t, n); code != http.StatusOK {
		t.Fatalf("/readyz = %d with one shard of three down: the node still serves the others", code)
	}
	// The other shards keep delivering meanwhile.
	other := byShard[1][1]
	if code, resp := publishHTTP(t, n, publishSecret, bump(other, 60)); code != http.StatusAccepted {
		t.Fatalf("publish on a healthy shard during the outage: %d %s", code, resp)
	}
	clients[1].waitHint(other, 60, 5*time.Second)

	// The app keeps publishing on the lost shard's topic until it lands.
	topic := byShard[0][0]
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for v := int64(100); ; v++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			publishHTTP(t, n, publishSecret, bump(topic, v))
		}
	}()
	waitFor(t, 30*time.Second, "a hint through the promoted replica", func() bool {
		for _, h := range clients[0].stale() {
			if h[topic] >= 100 {
				return true
			}
		}
		return false
	})
	close(stop)
	<-published
	firstHint := time.Since(killed)
	waitMode(t, clients[:1], "push", 15*time.Second)
	t.Logf("shard master killed: first hint through its promoted replica after %v, its sockets back in push after %v",
		firstHint.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	for i := 1; i < len(clients); i++ {
		if after := modes(clients[i]); after["poll"] != before[i]["poll"] {
			t.Fatalf("client of healthy shard %d was told poll: %v before, %v after", i, before[i], after)
		}
	}
	waitFor(t, 10*time.Second, "the shard's link up in metrics", func() bool { return metric(t, n, label) == label+" 1" })
	if list, _ := c.Replicas[0].Do("CLIENT", "LIST"); !strings.Contains(list, "user=notifier") {
		t.Fatalf("the node reached the promoted replica without its ACL user:\n%s", list)
	}
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

func splitLines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func setModeHTTP(t *testing.T, n *node, mode string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/admin/mode", strings.NewReader(`{"mode":"`+mode+`"}`))
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin mode = %d", resp.StatusCode)
	}
}

// The flag is one key and one sharded channel: set on one node, it
// reaches the sockets of another, and a node started later reads it.
func clusterFlag(t *testing.T, c *redistest.Cluster, n *node, clients []*client) {
	cfg := testConfig()
	cfg.RedisURL = c.URL
	other := startNode(t, cfg)
	oc := dial(t, other, sioclient.Options{})
	waitMode(t, []*client{oc}, "push", 5*time.Second)
	setModeHTTP(t, n, "shadow")
	took := waitMode(t, append([]*client{oc}, clients...), "shadow", 5*time.Second)
	t.Logf("flag set on one node reached the other's socket in %v", took.Round(time.Millisecond))
	late := startNode(t, cfg)
	waitFor(t, 5*time.Second, "a late node reads the flag", func() bool { return late.srv.Mode() == "shadow" })
	setModeHTTP(t, n, "push")
	waitMode(t, append([]*client{oc}, clients...), "push", 5*time.Second)
}
