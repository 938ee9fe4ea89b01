package publish_test

import (
	"context"
	"net/url"
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
