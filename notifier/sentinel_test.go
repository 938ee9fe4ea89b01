package notifier_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// The master dies under a node configured with redis-sentinel://: its
// clients are told poll, the sentinels promote the replica, and the node
// follows on its own: resubscribed on the new master, only the socket behind
// the version table hinted, push again, ready again, and a bump on the new
// master delivered.
func TestSentinelFailover(t *testing.T) {
	set := redistest.StartSentinels(t)
	// An ACL user, on both servers: ACLs are not replicated.
	for _, s := range []*redistest.Server{set.Master, set.Replica} {
		must(t, s.AddUser("notifier", "s3cret"))
	}
	cfg := testConfig()
	cfg.RedisURL = strings.Replace(set.URL, "://", "://notifier:s3cret@", 1)
	n := startNode(t, cfg)

	for _, topic := range []string{"s0", "s1", "s2"} {
		_, err := set.Master.Do("SET", "pushpoll:"+topic, "1")
		must(t, err)
	}
	cs := map[string]*client{}
	var all []*client
	for _, topic := range []string{"s0", "s1", "s2"} {
		c := dial(t, n, sioclient.Options{})
		c.subscribe(token(t, topic), map[string]int64{topic: 1})
		cs[topic] = c
		all = append(all, c)
	}
	waitMode(t, all, "push", 5*time.Second)
	// A bump whose PUBLISH was lost: only the version table knows it. WAIT
	// makes sure the replica has it before the master dies.
	_, err := set.Master.Do("SET", "pushpoll:s1", "2")
	must(t, err)
	_, err = set.Master.Do("WAIT", "1", "5000")
	must(t, err)

	old := set.Master.Addr
	killed := time.Now()
	set.Master.Kill()
	toldPoll := waitMode(t, all, "poll", 5*time.Second)
	if up := metric(t, n, `pushpoll_broker_up{link="sentinel:pushpoll"}`); up != `pushpoll_broker_up{link="sentinel:pushpoll"} 0` {
		t.Fatalf("metrics while the master is down: %q", up)
	}

	// The app publishes on whatever master the sentinels name, as the
	// publish helpers do.
	var promoted *redistest.Server
	waitFor(t, 30*time.Second, "a replica promoted", func() bool {
		promoted = set.Server(set.MasterAddr())
		return promoted != nil && promoted.Addr != old
	})
	_, err = promoted.Do("EVAL", notifier.PublishScript, "1", "pushpoll:s0", "10", `{"v":10}`)
	must(t, err)
	cs["s0"].waitHint("s0", 10, 15*time.Second)
	firstHint := time.Since(killed)
	waitMode(t, all, "push", 15*time.Second)
	back := time.Since(killed)
	t.Logf("master killed: poll after %v, first hint after %v, push again after %v",
		toldPoll.Round(time.Millisecond), firstHint.Round(time.Millisecond), back.Round(time.Millisecond))

	cs["s1"].waitHint("s1", 2, 5*time.Second) // behind the table
	if clients, _ := promoted.Do("CLIENT", "LIST"); !strings.Contains(clients, "user=notifier") {
		t.Fatalf("the node reached the new master without its ACL user:\n%s", clients)
	}
	if h := cs["s2"].stale(); len(h) != 0 {
		t.Fatalf("a socket up to date with the table was hinted: %v", h)
	}
	if code := readyStatus(t, n); code != http.StatusOK {
		t.Fatalf("/readyz = %d after the failover", code)
	}
	if up := metric(t, n, `pushpoll_broker_up{link="sentinel:pushpoll"}`); up != `pushpoll_broker_up{link="sentinel:pushpoll"} 1` {
		t.Fatalf("metrics after the failover: %q", up)
	}
	_, err = promoted.Do("EVAL", notifier.PublishScript, "1", "pushpoll:s2", "11", `{"v":11}`)
	must(t, err)
	cs["s2"].waitHint("s2", 11, 5*time.Second)
}
