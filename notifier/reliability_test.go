package notifier_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

func readyStatus(t testing.TB, n *node) int {
	resp, err := http.Get(n.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitMode(t testing.TB, cs []*client, mode string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, d, "every client told mode "+mode, func() bool {
		for _, c := range cs {
			if c.lastMode() != mode {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

// Redis dies under connected clients: all are told to poll at once and the
// node stops being ready. It comes back with its keys: the node resubscribes,
// hints only the sockets whose version is behind the table (v 0 where the
// table has nothing), tells everyone push again, and new bumps flow.
func TestRedisKilledAndRestarted(t *testing.T) {
	rs, n := redisNode(t)
	for topic, v := range map[string]string{"t0": "1", "t1": "1"} {
		_, err := rs.Do("SET", "pushpoll:"+topic, v)
		must(t, err)
	}
	held := map[string]int64{"t0": 1, "t1": 1, "t2": 0}
	var all []*client
	byTopic := map[string][]*client{}
	for i := 0; i < 12; i++ {
		topic := fmt.Sprintf("t%d", i%3)
		c := dial(t, n, sioclient.Options{Transport: transports[i%2]})
		c.subscribe(token(t, topic), map[string]int64{topic: held[topic]})
		all = append(all, c)
		byTopic[topic] = append(byTopic[topic], c)
	}
	waitMode(t, all, "push", 5*time.Second)

	// A bump whose PUBLISH was lost: only the version table knows about it.
	_, err := rs.Do("SET", "pushpoll:t0", "2")
	must(t, err)
	must(t, rs.Save())

	killed := time.Now()
	rs.Kill()
	toldPoll := waitMode(t, all, "poll", 5*time.Second)
	if code := readyStatus(t, n); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d while Redis is down, want 503", code)
	}
	resp, err := http.Get(n.url + "/healthz")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d while Redis is down, want 200", resp.StatusCode)
	}

	restarted := time.Now()
	rs.Restart()
	resynced := waitMode(t, all, "push", 10*time.Second)
	t.Logf("told poll %v after the kill; push again %v after the restart (down for %v)",
		toldPoll.Round(time.Millisecond), resynced.Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond))

	for _, c := range byTopic["t0"] {
		c.waitHint("t0", 2, 5*time.Second) // behind the table
	}
	for _, c := range byTopic["t2"] {
		c.waitHint("t2", 0, 5*time.Second) // no table entry: poll to be sure
	}
	for _, c := range byTopic["t1"] {
		if len(c.stale()) != 0 {
			t.Fatalf("client up to date with the table was hinted: %v", c.stale())
		}
	}
	if code := readyStatus(t, n); code != http.StatusOK {
		t.Fatalf("/readyz = %d after recovery", code)
	}
	_, err = rs.Do("EVAL", notifier.PublishScript, "1", "pushpoll:t1", "5", `{"v":5}`)
	must(t, err)
	for _, c := range byTopic["t1"] {
		c.waitHint("t1", 5, 5*time.Second)
	}
}

// A frozen Redis keeps its sockets open and answers nothing: the probe must
// notice within its deadline rather than trust the open connection.
func TestRedisFrozen(t *testing.T) {
	rs, n := redisNode(t)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "f"), map[string]int64{"f": 0})
	waitMode(t, []*client{c}, "push", 5*time.Second)
	rs.Freeze()
	detected := waitMode(t, []*client{c}, "poll", 8*time.Second)
	t.Logf("frozen Redis detected after %v", detected.Round(time.Millisecond))
	if code := readyStatus(t, n); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with Redis frozen", code)
	}
	rs.Thaw()
	waitMode(t, []*client{c}, "push", 15*time.Second)
	_, err := rs.Do("PUBLISH", "pushpoll:f", "3")
	must(t, err)
	c.waitHint("f", 3, 5*time.Second)
}

// CLIENT KILL TYPE pubsub drops the node's subscriber connection: every one
// of 1,000 topics is subscribed again before the node says it is ready, and
// every topic delivers afterwards.
func TestClientKillResubscribesEverything(t *testing.T) {
	rs, n := redisNode(t)
	const topics = 1000
	var cs []*client
	for part := 0; part < 4; part++ {
		c := dial(t, n, sioclient.Options{})
		req := map[string]int64{}
		for i := part * topics / 4; i < (part+1)*topics/4; i++ {
			req[fmt.Sprintf("k:%d", i)] = 1
		}
		a := c.subscribe(token(t, "k:*"), req)
		if len(a.Granted) != topics/4 {
			t.Fatalf("granted %d of %d (%v)", len(a.Granted), topics/4, a.Error)
		}
		cs = append(cs, c)
	}
	channels := make([]string, topics)
	for i := range channels {
		channels[i] = fmt.Sprintf("pushpoll:k:%d", i)
	}
	subscribedAll := func() bool {
		reply, err := rs.Do(append([]string{"PUBSUB", "NUMSUB"}, channels...)...)
		if err != nil {
			return false
		}
		lines := strings.Split(reply, "\n")
		for i := 1; i < len(lines); i += 2 {
			if lines[i] == "0" {
				return false
			}
		}
		return true
	}
	waitFor(t, 5*time.Second, "all topics subscribed in Redis", subscribedAll)

	_, err := rs.Do("CLIENT", "KILL", "TYPE", "pubsub")
	must(t, err)
	waitFor(t, 5*time.Second, "node notices the kill", func() bool { return readyStatus(t, n) != http.StatusOK })
	waitFor(t, 10*time.Second, "node ready again", func() bool {
		if readyStatus(t, n) != http.StatusOK {
			return false
		}
		if !subscribedAll() {
			t.Fatal("node reported ready before every topic was subscribed again")
		}
		return true
	})
	var pipe strings.Builder
	for i := 0; i < topics; i++ {
		fmt.Fprintf(&pipe, "PUBLISH pushpoll:k:%d 7\n", i)
	}
	_, err = rs.Pipe(pipe.String())
	must(t, err)
	for part, c := range cs {
		for i := part * topics / 4; i < (part+1)*topics/4; i++ {
			c.waitHint(fmt.Sprintf("k:%d", i), 7, 10*time.Second)
		}
	}
}

// The feature flag, flipped through Redis and through the admin API, reaches
// every socket of three nodes within 5 s.
func TestModeFlipReachesEveryNode(t *testing.T) {
	rs := redistest.Start(t)
	var nodes []*node
	var cs []*client
	for i := 0; i < 3; i++ {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.AdminSecret = "admin-secret-0123456789"
		n := startNode(t, cfg)
		nodes = append(nodes, n)
		for j := 0; j < 3; j++ {
			cs = append(cs, dial(t, n, sioclient.Options{Transport: transports[j%2]}))
		}
	}
	waitMode(t, cs, "push", 5*time.Second)

	flagKey := notifier.FlagKey("pushpoll:")
	_, err := rs.Do("SET", flagKey, "shadow")
	must(t, err)
	_, err = rs.Do("PUBLISH", flagKey, "shadow")
	must(t, err)
	took := waitMode(t, cs, "shadow", 5*time.Second)
	t.Logf("flag through Redis reached 9 sockets on 3 nodes in %v", took.Round(time.Millisecond))

	req, _ := http.NewRequest(http.MethodPost, nodes[1].url+"/v1/admin/mode", strings.NewReader(`{"mode":"poll"}`))
	req.Header.Set("Authorization", "Bearer admin-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin mode = %d", resp.StatusCode)
	}
	took = waitMode(t, cs, "poll", 5*time.Second)
	t.Logf("flag through the admin API reached 9 sockets on 3 nodes in %v", took.Round(time.Millisecond))

	// A node started later reads the flag from the key.
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	late := startNode(t, cfg)
	lc := dial(t, late, sioclient.Options{})
	waitFor(t, 5*time.Second, "late node follows the flag", func() bool { return late.srv.Mode() == "poll" })
	waitMode(t, []*client{lc}, "poll", 5*time.Second)

	// Bad flags are ignored. The flag and a topic travel on one subscriber
	// connection, so once a bump published after the bad flag is hinted,
	// the flag was read.
	marked := dial(t, nodes[0], sioclient.Options{})
	marked.subscribe(token(t, "marker"), map[string]int64{"marker": 0})
	_, err = rs.Do("PUBLISH", flagKey, "yolo")
	must(t, err)
	marked.settle("marker", func(v int64) {
		_, err := rs.Do("PUBLISH", "pushpoll:marker", fmt.Sprint(v))
		must(t, err)
	})
	if nodes[0].srv.Mode() != "poll" {
		t.Fatalf("mode = %q after a bad flag", nodes[0].srv.Mode())
	}
}

// Out-of-order and duplicate versions (5, 3, 5, 4): no client is ever
// hinted backwards or twice for one version.
func TestOutOfOrderVersions(t *testing.T) {
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	// Every bump reaches the hub as it arrives: with the throttle on, the
	// three late ones would fold into one fan-out at the window's end,
	// after the marker, and the hub's and socket's checks would go untested.
	cfg.HintThrottle = 0
	n := startNode(t, cfg)
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "o", "marker"), map[string]int64{"o": 0, "marker": 0})
	_, err := rs.Pipe("PUBLISH pushpoll:o 5\nPUBLISH pushpoll:o 3\nPUBLISH pushpoll:o 5\nPUBLISH pushpoll:o 4")
	must(t, err)
	c.waitHint("o", 5, 5*time.Second)
	c.settle("marker", func(v int64) {
		_, err := rs.Do("PUBLISH", "pushpoll:marker", fmt.Sprint(v))
		must(t, err)
	})
	var seen []int64
	for _, h := range c.stale() {
		if v, ok := h["o"]; ok {
			seen = append(seen, v)
		}
	}
	if len(seen) != 1 || seen[0] != 5 {
		t.Fatalf("hints of o = %v, want exactly one, 5 (all hints %v)", seen, c.stale())
	}
}

// A client that stops reading while flooded with hints for 2,000 topics:
// another client's hints stay prompt, the node's memory stays bounded by
// the topic count, and the stuck socket is dropped as slow.
func TestStuckClientFloodedWith2000Topics(t *testing.T) {
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	cfg.MaxTopicsPerSocket = 2500
	cfg.WriteTimeout = 2 * time.Second
	// Every bump must reach the sockets, to fill the stuck one's buffers.
	cfg.HintThrottle = 0
	n := startNode(t, cfg)

	topics := make([]string, 2000)
	for i := range topics {
		topics[i] = fmt.Sprintf("f:%d", i)
	}
	stuckClient(t, n, token(t, "f:*"), topics...)
	healthy := dial(t, n, sioclient.Options{})
	healthy.subscribe(token(t, "probe"), map[string]int64{"probe": 0})

	// Flood until the kernel buffers between node and stuck client are full
	// and the node's write blocks; from then on its hints coalesce, and the
	// write deadline ends the socket.
	var worst time.Duration
	var heapBefore, heapPeak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heapBefore)
	dropped := func() bool {
		return strings.Contains(metric(t, n, "pushpoll_slow_disconnects_total"), "pushpoll_slow_disconnects_total 1") && n.srv.Sockets() == 1
	}
	rounds := 0
	for rounds = 1; rounds <= 1000 && !dropped(); rounds++ {
		var pipe strings.Builder
		for _, topic := range topics {
			fmt.Fprintf(&pipe, "PUBLISH pushpoll:%s %d\n", topic, rounds)
		}
		start := time.Now()
		_, err := rs.Pipe(pipe.String() + fmt.Sprintf("PUBLISH pushpoll:probe %d\n", rounds))
		must(t, err)
		healthy.waitHint("probe", int64(rounds), 5*time.Second)
		worst = max(worst, time.Since(start))
		runtime.ReadMemStats(&heapPeak)
		if grown := int64(heapPeak.HeapInuse) - int64(heapBefore.HeapInuse); grown > 200<<20 {
			t.Fatalf("heap grew by %d MiB while a client was stuck", grown>>20)
		}
	}
	if !dropped() {
		t.Fatalf("stuck socket not dropped after %d rounds of 2,000 bumps", rounds)
	}
	t.Logf("stuck socket dropped as slow after %d rounds of 2,000 bumps; worst probe latency meanwhile %v; heap in use %d MiB → %d MiB",
		rounds, worst.Round(time.Millisecond), heapBefore.HeapInuse>>20, heapPeak.HeapInuse>>20)
}

// Every client of a node that is told to shut down gets `drain`, moves to a
// second node, and ends at the newest version, while bumps keep coming.
func TestDrainMovesClientsWithoutLosingBumps(t *testing.T) {
	rs := redistest.Start(t)
	cfgA := testConfig()
	cfgA.RedisURL = rs.URL
	cfgA.DrainTimeout = 3 * time.Second
	a := startNode(t, cfgA)
	cfgB := testConfig()
	cfgB.RedisURL = rs.URL
	b := startNode(t, cfgB)

	type mover struct {
		on    *client
		held  int64 // the newest version it took along to the new node
		moved chan *client
	}
	const clients = 20
	var movers []*mover
	for i := 0; i < clients; i++ {
		c := dial(t, a, sioclient.Options{Transport: transports[i%2]})
		c.subscribe(token(t, "d"), map[string]int64{"d": 0})
		movers = append(movers, &mover{on: c, moved: make(chan *client, 1)})
	}
	stop := make(chan struct{})
	published := make(chan int64, 1)
	var sent atomic.Int64 // the newest version published so far
	go func() {
		v := int64(0)
		defer func() { published <- v }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			v++
			if _, err := rs.Do("EVAL", notifier.PublishScript, "1", "pushpoll:d", fmt.Sprint(v), fmt.Sprintf(`{"v":%d}`, v)); err != nil {
				return
			}
			sent.Store(v)
		}
	}()
	// The drain starts while bumps flow: every client has had some.
	for _, m := range movers {
		checkFor(t, 10*time.Second, func() error {
			if len(m.on.stale()) == 0 {
				return fmt.Errorf("no bump has reached a client yet (%d published)", sent.Load())
			}
			return nil
		})
	}

	drained := make(chan struct{})
	go func() { a.stop(); close(drained) }()
	for _, m := range movers {
		waitFor(t, 5*time.Second, "drain event", func() bool { return len(m.on.named("drain")) > 0 })
		var d struct{ Within int64 }
		_ = json.Unmarshal(m.on.named("drain")[0], &d)
		if d.Within <= 0 {
			t.Fatalf("drain without a window: %s", m.on.named("drain")[0])
		}
		// The client reconnects to the other node with the newest version
		// it learned, as the shim does.
		for _, h := range m.on.stale() {
			m.held = max(m.held, h["d"])
		}
		_ = m.on.Close()
		nc := dial(t, b, sioclient.Options{})
		nc.subscribe(token(t, "d"), map[string]int64{"d": m.held})
		m.moved <- nc
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not finish")
	}
	if a.err != nil {
		t.Fatalf("drained node returned %v", a.err)
	}
	// Bumps keep flowing for a while after the last client moved, so each
	// must follow them on its new node.
	after := sent.Load()
	checkFor(t, 10*time.Second, func() error {
		if sent.Load() < after+10 {
			return fmt.Errorf("%d bumps published since the drain ended, want 10", sent.Load()-after)
		}
		return nil
	})
	close(stop)
	last := <-published
	for _, m := range movers {
		nc := <-m.moved
		waitFor(t, 5*time.Second, fmt.Sprintf("client at v%d", last), func() bool {
			newest := m.held
			for _, h := range nc.stale() {
				newest = max(newest, h["d"])
			}
			return newest == last
		})
	}
	t.Logf("%d clients moved during the drain and all ended at v%d", clients, last)
}

// TestHeldTopicSubscribesReadNoTable: once a node has read a held topic's
// version after its subscription was confirmed, later subscribers of it get
// the node's version without a table read (a reconnect storm on one topic
// makes one read, not one per socket) and still miss nothing; after a link
// change the next subscriber reads the table again.
func TestHeldTopicSubscribesReadNoTable(t *testing.T) {
	rs, n := redisNode(t)
	mgets := func() int {
		reply, err := rs.Do("INFO", "commandstats")
		must(t, err)
		for _, line := range strings.Split(reply, "\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_mget:calls="); ok {
				calls, _, _ := strings.Cut(rest, ",")
				v, err := strconv.Atoi(calls)
				must(t, err)
				return v
			}
		}
		return 0
	}
	tok := token(t, "held")
	// Published before any node held the topic: only the table knows it.
	_, err := rs.Do("SET", "pushpoll:held", "5")
	must(t, err)

	a := dial(t, n, sioclient.Options{})
	a.subscribe(tok, map[string]int64{"held": 0})
	a.waitHint("held", 5, 5*time.Second)
	before := mgets()
	if before == 0 {
		t.Fatal("the first subscriber did not read the table")
	}
	for range 5 {
		c := dial(t, n, sioclient.Options{})
		c.subscribe(tok, map[string]int64{"held": 0})
		c.waitHint("held", 5, 5*time.Second)
	}
	if got := mgets(); got != before {
		t.Fatalf("%d table reads for 5 subscribers of a held topic, want none", got-before)
	}
	publishHTTP(t, n, publishSecret, `{"topic":"held","v":6}`)
	a.waitHint("held", 6, 5*time.Second)

	_, err = rs.Do("CLIENT", "KILL", "TYPE", "pubsub")
	must(t, err)
	waitFor(t, 5*time.Second, "node notices the kill", func() bool { return readyStatus(t, n) != http.StatusOK })
	waitFor(t, 10*time.Second, "node ready again", func() bool { return readyStatus(t, n) == http.StatusOK })
	// What the node may have missed while its link was down is only in the
	// table now.
	_, err = rs.Do("SET", "pushpoll:held", "7")
	must(t, err)
	before = mgets()
	c := dial(t, n, sioclient.Options{})
	c.subscribe(tok, map[string]int64{"held": 0})
	c.waitHint("held", 7, 5*time.Second)
	if mgets() == before {
		t.Fatal("a subscriber after a link change did not read the table")
	}
}
