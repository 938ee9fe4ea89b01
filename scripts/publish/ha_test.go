package publish_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/redisx"
)

// withUser puts an ACL user into a redis…:// URL, percent-encoded.
func withUser(rawURL, user, password string) string {
	escape := func(s string) string { return strings.ReplaceAll(url.PathEscape(s), "@", "%40") }
	scheme, rest, _ := strings.Cut(rawURL, "://")
	return scheme + "://" + escape(user) + ":" + escape(password) + "@" + rest
}

// Every library helper bumps through the sentinels, with an ACL user: the
// version lands on the master and is PUBLISHed there.
func TestBumpThroughSentinel(t *testing.T) {
	crossLanguage(t)
	t.Parallel()
	set := redistest.StartSentinels(t)
	for _, s := range []*redistest.Server{set.Master, set.Replica} {
		must(t, s.AddUser("app", "p@ss word"))
	}
	u := withUser(set.URL, "app", "p@ss word")
	w := watch(t, set.Master)
	for _, h := range libraries() {
		t.Run(h.name, func(t *testing.T) {
			h.ready(t)
			topic := "ha:" + h.name
			res := run(t, nil, h.bumpArgs(u, topic, "5")...)
			if res.code != 0 || strings.TrimSpace(res.stdout) != "true" {
				t.Fatalf("bump via %s: exit %d, stdout %q, stderr %q", u, res.code, res.stdout, res.stderr)
			}
			if got := get(t, set.Master, "pushpoll:"+topic); got != "5" {
				t.Fatalf("master holds %q, want 5", got)
			}
			// The sentinels' own hellos pass on the master too.
			m := w.next(t)
			for strings.HasPrefix(m.Channel, "__sentinel__:") {
				m = w.next(t)
			}
			if m.Channel != "pushpoll:"+topic {
				t.Fatalf("published on %q, want pushpoll:%s", m.Channel, topic)
			}
		})
	}
}

// Every library helper bumps through a three-shard cluster, with an ACL
// user: the version lands on the master of the topic's slot and is
// SPUBLISHed there, where a notifier's SSUBSCRIBE hears it.
func TestBumpThroughCluster(t *testing.T) {
	crossLanguage(t)
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	for _, s := range c.All() {
		must(t, s.AddUser("app", "secret"))
	}
	u := withUser(c.URL, "app", "secret")
	conn, err := redis.Dial("tcp", c.Masters[0].Addr)
	must(t, err)
	defer conn.Close()
	topo, err := redisx.ReadTopology(context.Background(), conn, false)
	must(t, err)
	for _, h := range libraries() {
		t.Run(h.name, func(t *testing.T) {
			h.ready(t)
			// Topics on every shard, so each helper has to follow the slots.
			seen := map[int]bool{}
			for i := 0; len(seen) < len(topo.Shards); i++ {
				topic := "ha:" + h.name + ":" + itoa(i)
				key := "pushpoll:" + topic
				shard := topo.Shard(redisx.Slot(key))
				if seen[shard] {
					continue
				}
				seen[shard] = true
				owner := topo.Shards[shard].Master
				sub := ssubscribe(t, owner, key)
				res := run(t, nil, h.bumpArgs(u, topic, "7")...)
				if res.code != 0 || strings.TrimSpace(res.stdout) != "true" {
					t.Fatalf("bump via %s: exit %d, stdout %q, stderr %q", u, res.code, res.stdout, res.stderr)
				}
				got, err := redis.String(sub.Do("GET", key))
				if err != nil || got != "7" {
					t.Fatalf("the master of %s holds %q (%v), want 7", key, got, err)
				}
				if msg := sub.next(t); !strings.Contains(msg, `"v":7`) {
					t.Fatalf("smessage %q", msg)
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// shardSub is an SSUBSCRIBEd connection plus a second one for reads.
type shardSub struct {
	redis.Conn
	sub redis.Conn
}

func ssubscribe(t *testing.T, addr, channel string) *shardSub {
	t.Helper()
	sub, err := redis.Dial("tcp", addr, redis.DialReadTimeout(10*time.Second))
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	must(t, sub.Send("SSUBSCRIBE", channel))
	must(t, sub.Flush())
	if _, err := sub.Receive(); err != nil {
		t.Fatalf("ssubscribe %s on %s: %v", channel, addr, err)
	}
	c, err := redis.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return &shardSub{Conn: c, sub: sub}
}

// next returns the payload of the next sharded message.
func (s *shardSub) next(t *testing.T) string {
	t.Helper()
	reply, err := redis.Values(s.sub.Receive())
	if err != nil || len(reply) != 3 {
		t.Fatalf("no smessage: %v %v", reply, err)
	}
	kind, _ := redis.String(reply[0], nil)
	data, _ := redis.String(reply[2], nil)
	if kind != "smessage" {
		t.Fatalf("got %s, want smessage", kind)
	}
	return data
}

// The Node helper's Sentinel client follows a failover by itself: one
// process connects once, bumps, and after the sentinels promote the replica
// its next bump lands on the new master. (node-redis 4 had no Sentinel
// client: the helper looked the master up once, and kept writing to the
// demoted one, which refuses writes.)
func TestNodeFollowsSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("real redis-server and sentinels, and a failover")
	}
	nodeReady(t)
	set := redistest.StartSentinels(t)
	// One bump per line read on stdin, one answer per line on stdout.
	const script = `
import * as pp from "./node/pushpoll.mjs";
import { createInterface } from "node:readline";
const { redis } = await pp.connect(process.argv[1]);
pp.configure({ redis });
for await (const line of createInterface({ input: process.stdin })) {
  const [topic, v] = line.split(" ");
  try { console.log(String(await pp.bump(topic, v))); } catch (err) { console.log("error " + err.message); }
}
await redis.close();
`
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", script, set.URL)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("node: %v\n%s", err, stderr.String())
		}
	}()
	answers := bufio.NewScanner(stdout)
	bump := func(topic, v string) string {
		t.Helper()
		if _, err := fmt.Fprintf(stdin, "%s %s\n", topic, v); err != nil {
			t.Fatalf("write: %v\n%s", err, stderr.String())
		}
		if !answers.Scan() {
			t.Fatalf("node stopped answering: %v\n%s", answers.Err(), stderr.String())
		}
		return answers.Text()
	}

	if got := bump("ha:failover", "1"); got != "true" {
		t.Fatalf("first bump: %q", got)
	}
	if got := get(t, set.Master, "pushpoll:ha:failover"); got != "1" {
		t.Fatalf("master holds %q, want 1", got)
	}
	if _, err := set.Sentinels[0].Do("SENTINEL", "FAILOVER", redistest.MasterName); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	// Until the sentinels have demoted the old master, both accept writes (a
	// bump there would be lost when it resyncs): wait for the demotion.
	deadline := time.Now().Add(60 * time.Second)
	for set.MasterAddr() != set.Replica.Addr || !strings.Contains(info(t, set.Master), "role:slave") {
		if time.Now().After(deadline) {
			t.Fatal("the sentinels did not swap master and replica within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The same process, the same client: a command sent while node-redis
	// learns of the switch may fail once; it must not keep failing.
	var got string
	for v := 2; time.Now().Before(deadline); v++ {
		if got = bump("ha:failover", strconv.Itoa(v)); got == "true" {
			if held := get(t, set.Replica, "pushpoll:ha:failover"); held != strconv.Itoa(v) {
				t.Fatalf("the new master holds %q, want %d", held, v)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no bump reached the new master within 60 s; last answer %q", got)
}

// info is the replication section of INFO, "" when the server does not answer.
func info(t *testing.T, s *redistest.Server) string {
	t.Helper()
	out, _ := s.Do("INFO", "replication")
	return out
}
