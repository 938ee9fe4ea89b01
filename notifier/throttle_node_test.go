package notifier_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// A 10,000-bump burst from the broker reaches each holder as a bounded
// number of hints, strictly rising and ending at the last version, and the
// node counts what its throttle held back.
func TestHintThrottleBoundsABurstPerHolder(t *testing.T) {
	cfg := testConfig()
	cfg.HintThrottle = 200 * time.Millisecond
	n := startNode(t, cfg)
	holders := []*client{dial(t, n, sioclient.Options{}), dial(t, n, sioclient.Options{Transport: "polling"})}
	for _, c := range holders {
		c.subscribe(token(t, "hot"), map[string]int64{"hot": 0})
	}
	start := time.Now()
	for v := 1; v <= 10000; v++ {
		n.srv.Message("hot", []byte(strconv.Itoa(v)))
	}
	burst := time.Since(start)
	for _, c := range holders {
		c.waitHint("hot", 10000, 10*time.Second)
		hints := c.risingHints("hot")
		// The leading hint, one per window the burst spanned, and the
		// trailing one.
		if bound := int(burst/cfg.HintThrottle) + 2; len(hints) > bound {
			t.Fatalf("%d hints for a burst of %v, want at most %d", len(hints), burst, bound)
		}
		t.Logf("10,000 bumps in %v: %d hints", burst.Round(time.Millisecond), len(hints))
	}
	if got := metricValue(t, n, "pushpoll_hints_throttled_total"); got != 9999 {
		t.Fatalf("pushpoll_hints_throttled_total = %v, want 9999 (all but the leading bump)", got)
	}
}
