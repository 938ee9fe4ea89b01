package notifier_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// A shim whose socket serves several tabs says how many; pushpoll_tabs counts
// tabs, pushpoll_sockets connections, and a bad count changes nothing.
func TestTabsReportFeedsMetric(t *testing.T) {
	n := startNode(t, testConfig())
	shared := dial(t, n, sioclient.Options{})
	dial(t, n, sioclient.Options{}) // a tab on its own counts 1
	tabs := func() string { return metric(t, n, "pushpoll_tabs ") }
	waitFor(t, 5*time.Second, "two tabs", func() bool { return tabs() == "pushpoll_tabs 2" })

	for _, c := range []struct {
		name string
		arg  any
		want string
	}{
		{"five tabs", 5, "pushpoll_tabs 6"},
		{"zero is ignored", 0, "pushpoll_tabs 6"},
		{"above the bound is ignored", 1001, "pushpoll_tabs 6"},
		{"not a number is ignored", "3", "pushpoll_tabs 6"},
		{"fractions are ignored", 2.5, "pushpoll_tabs 6"},
		{"fewer tabs", 3, "pushpoll_tabs 4"},
		{"tabs and visible ones", map[string]int{"tabs": 4, "visible": 1}, "pushpoll_tabs 5"},
		{"more visible than tabs is ignored", map[string]int{"tabs": 2, "visible": 3}, "pushpoll_tabs 5"},
		{"visible missing is ignored", map[string]int{"tabs": 2}, "pushpoll_tabs 5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			must(t, shared.Emit("tabs", c.arg))
			// An acked round trip after it proves the node read the report.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := shared.EmitAck(ctx, "subscribe", map[string]any{"token": token(t, "x"), "topics": map[string]int64{"x": 0}}); err != nil {
				t.Fatal(err)
			}
			if got := tabs(); got != c.want {
				t.Fatalf("after tabs %v: %q, want %q", c.arg, got, c.want)
			}
		})
	}

	_ = shared.Close()
	waitFor(t, 5*time.Second, "the shared socket's tabs gone with it", func() bool { return tabs() == "pushpoll_tabs 1" })
}

// Hints carry the spread their visible holders call for (DESIGN §2): two of
// three visible pages hold g; when the third hides, all visible ones do.
func TestHintCarriesSpread(t *testing.T) {
	n := startNode(t, testConfig())
	a, b, c := dial(t, n, sioclient.Options{}), dial(t, n, sioclient.Options{}), dial(t, n, sioclient.Options{})
	for _, h := range []*client{a, b} {
		h.subscribe(token(t, "g"), map[string]int64{"g": 0})
	}
	// Dial returns once the CONNECT answer is out, which may be before the
	// node has counted the socket; it sends the mode notice after. a and b
	// are counted: their subscribes ran after their connects.
	waitFor(t, 5*time.Second, "c's mode notice", func() bool { return c.lastMode() != "" })
	spreadOf := func(v int64) string {
		t.Helper()
		must(t, n.srv.Publish(context.Background(), "g", v))
		a.waitHint("g", v, 5*time.Second)
		a.mu.Lock()
		defer a.mu.Unlock()
		e := a.events[len(a.events)-1]
		if e.Name != "stale" || len(e.Args) != 2 {
			t.Fatalf("last event %s %s, want stale with a spread", e.Name, e.Args)
		}
		var m struct{ Spread *int64 }
		if json.Unmarshal(e.Args[1], &m) != nil || m.Spread == nil {
			t.Fatalf("second argument %s, want {\"spread\":ms}", e.Args[1])
		}
		return string(e.Args[1])
	}
	// 2 / (3/5000 − 1/45000) ms.
	if got := spreadOf(1); got != `{"spread":3461}` {
		t.Fatalf("spread %s, want 3461 ms", got)
	}
	must(t, c.Emit("tabs", map[string]int{"tabs": 1, "visible": 0}))
	c.subscribe(token(t, "x"), map[string]int64{"x": 0}) // the node has read the report
	if got := spreadOf(2); got != `{"spread":5000}` {
		t.Fatalf("spread %s, want fast", got)
	}
}
