package notifier

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestSpreadWindow(t *testing.T) {
	const fast, slow = 5 * time.Second, time.Minute
	for _, c := range []struct {
		name             string
		holders, visible int64
		fast, slow       time.Duration
		factor           float64
		want             int64
	}{
		{"every visible page holds it: fast", 1000, 1000, fast, slow, 1, 5000},
		{"a few pages: far below any jitter", 10, 10000, fast, slow, 1, 5},
		{"half: half of fast, plus room for the others' safety net", 500, 1000, fast, slow, 1, 2647},
		{"factor 0: no spread", 1000, 1000, fast, slow, 0, 0},
		{"factor 2: never beyond fast", 500, 1000, fast, slow, 2, 5000},
		{"factor 0.5", 500, 1000, fast, slow, 0.5, 1323},
		{"no visible holder", 0, 1000, fast, slow, 1, 0},
		{"nothing visible on the node", 5, 0, fast, slow, 1, 0},
		{"more holders than counted visible: as if all", 7, 5, fast, slow, 1, 5000},
		{"slow as fast: the safety net alone fills the budget", 1, 1000, fast, fast, 1, 5000},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := spreadWindow(c.holders, c.visible, c.fast, c.slow, c.factor); got != c.want {
				t.Fatalf("spreadWindow(%d, %d, %v, %v, %v) = %d, want %d", c.holders, c.visible, c.fast, c.slow, c.factor, got, c.want)
			}
		})
	}
}

// The promise, for every share of a node's visible pages: the holders'
// polls drawn over the window, plus the others' safety net, stay within
// plain polling of all of them.
func TestSpreadWindowKeepsPlainPollingsRate(t *testing.T) {
	const visible = 2000
	for _, iv := range []struct{ fast, slow time.Duration }{{5 * time.Second, time.Minute}, {time.Second, 10 * time.Second}, {30 * time.Second, 5 * time.Minute}} {
		plain := float64(visible) / float64(iv.fast.Milliseconds())
		for h := int64(1); h <= visible; h++ {
			w := spreadWindow(h, visible, iv.fast, iv.slow, DefaultSpreadFactor)
			if w >= iv.fast.Milliseconds() {
				continue // the shim then polls as plain polling would
			}
			rate := float64(h)/float64(w+1) + float64(visible-h)/(0.75*float64(iv.slow.Milliseconds()))
			if rate > plain {
				t.Fatalf("fast %v slow %v, %d of %d visible hold it: window %d ms makes %.4f polls/ms, plain %.4f", iv.fast, iv.slow, h, visible, w, rate, plain)
			}
		}
	}
}

func TestParseTabs(t *testing.T) {
	for raw, want := range map[string][2]int64{
		`5`:                      {5, 5},
		`1000`:                   {1000, 1000},
		`{"tabs":5,"visible":2}`: {5, 2},
		`{"tabs":1,"visible":0}`: {1, 0},
		`{"visible":3,"tabs":3}`: {3, 3},
	} {
		tabs, visible, err := parseTabs(json.RawMessage(raw))
		if err != nil || tabs != want[0] || visible != want[1] {
			t.Errorf("parseTabs(%s) = %d, %d, %v; want %d, %d", raw, tabs, visible, err, want[0], want[1])
		}
	}
	for _, raw := range []string{`0`, `1001`, `-1`, `2.5`, `"3"`, `null`, `{}`, `{"tabs":2}`, `{"visible":1}`,
		`{"tabs":2,"visible":3}`, `{"tabs":2,"visible":-1}`, `{"tabs":0,"visible":0}`, `{"tabs":"2","visible":1}`, `[2,1]`, ``} {
		if tabs, visible, err := parseTabs(json.RawMessage(raw)); err == nil {
			t.Errorf("parseTabs(%q) = %d, %d; want an error", raw, tabs, visible)
		}
	}
}

// A bump's frame carries the window its visible holders call for: the
// node's count follows tabs reports, joins and leaves, and a closed
// socket's late report changes nothing.
func TestFanOutCarriesTheSpread(t *testing.T) {
	pool := testPool(t)
	h := newHub(&interestLog{subs: map[string]int{}}, 0, 0)
	h.spread = newSpreader(DefaultSpreadFactor, 5*time.Second, time.Minute)
	conns := make([]*fakeConn, 20)
	sockets := make([]*socket, 20)
	for i := range sockets {
		conns[i] = &fakeConn{}
		sockets[i] = newSocket(fmt.Sprint(i), conns[i], pool)
		h.addSocket(sockets[i])
		topics := []string{"g"}
		if i < 2 {
			topics = append(topics, "few")
		}
		grant := map[string]int64{}
		for _, tp := range topics {
			grant[tp] = 0
		}
		sockets[i].grant(grant, time.Time{}, nil)
		mustJoin(t, h, sockets[i], topics, nil, "")
	}
	last := func(c *fakeConn) string {
		got := c.named("stale")
		if len(got) == 0 {
			return ""
		}
		return got[len(got)-1]
	}
	bump := func(topic string, v int64, n int, want string) {
		t.Helper()
		h.fanOut(topic, v)
		for _, s := range sockets[:n] {
			waitIdle(t, s)
		}
		for i, c := range conns[:n] {
			if got := last(c); got != want {
				t.Fatalf("socket %d got stale %s, want %s", i, got, want)
			}
		}
	}

	bump("g", 1, 20, `{"g":1},{"spread":5000}`)
	// 2 of 20: 2 / (20/5000 − 18/45000) ms.
	bump("few", 1, 2, `{"few":1},{"spread":555}`)

	// Ten pages that do not hold "few" hide: its holders are a larger share.
	for _, s := range sockets[10:] {
		h.spread.setTabs(s, 1, 0)
	}
	if got := h.spread.visible.Load(); got != 10 {
		t.Fatalf("visible = %d, want 10", got)
	}
	bump("few", 2, 2, `{"few":2},{"spread":1097}`)
	// A hidden holder does not count as one: 10 visible hold "g" of 10.
	bump("g", 2, 20, `{"g":2},{"spread":5000}`)

	// A socket serving three tabs, one of them visible.
	h.spread.setTabs(sockets[0], 3, 1)
	if got, tabs := h.spread.visible.Load(), sockets[0].tabs.Load(); got != 10 || tabs != 3 {
		t.Fatalf("visible = %d, tabs = %d; want 10, 3", got, tabs)
	}

	for _, s := range sockets[10:] {
		h.removeSocket(s)
		h.spread.setTabs(s, 5, 5) // late: the socket is closed
	}
	if got := h.spread.visible.Load(); got != 10 {
		t.Fatalf("visible = %d after the hidden ones left, want 10", got)
	}
	for _, s := range sockets[:10] {
		h.removeSocket(s)
	}
	if got := h.spread.visible.Load(); got != 0 {
		t.Fatalf("visible = %d with no socket left, want 0", got)
	}
}

// One holder has no herd to spread: no second argument, byte for byte the
// frame an old shim reads.
func TestLoneHolderGetsNoSpread(t *testing.T) {
	h := newHub(&interestLog{subs: map[string]int{}}, 0, 0)
	h.spread = newSpreader(DefaultSpreadFactor, 5*time.Second, time.Minute)
	c := &fakeConn{}
	s := newSocket("a", c, testPool(t))
	h.addSocket(s)
	s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
	mustJoin(t, h, s, []string{"t"}, nil, "")
	h.fanOut("t", 3)
	waitIdle(t, s)
	if got := c.named("stale"); len(got) != 1 || got[0] != `{"t":3}` {
		t.Fatalf("stale = %v, want [{\"t\":3}]", got)
	}
}
