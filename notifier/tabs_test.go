package notifier_test

import (
	"context"
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
