package socketio

import (
	"testing"
	"time"
)

// Heartbeat timers fire on a grid, so that sessions due within one slot
// share a wake-up: never before the instant asked for, at most one slot
// after it, and at the same instant for every time within a slot.
func TestHeartbeatGrid(t *testing.T) {
	cases := []struct {
		name     string
		interval time.Duration
		slot     time.Duration
	}{
		{"default interval: capped at 100 ms", 25 * time.Second, 100 * time.Millisecond},
		{"conformance interval: a 64th", 300 * time.Millisecond, 300 * time.Millisecond / 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &session4{e: &engine4{set: &transportSet{cfg: Config{PingInterval: c.interval}}}}
			slot := int64(c.slot)
			base := time.Unix(0, time.Now().Add(time.Minute).UnixNano()/slot*slot)
			// When a timer set now would fire, give or take the moments
			// between this clock reading and beatIn's.
			fire := func(at time.Time) time.Time { return time.Now().Add(s.beatIn(at)) }
			const slack = time.Millisecond
			for _, off := range []time.Duration{1, c.slot / 3, c.slot - 1} {
				at := base.Add(off)
				got := fire(at)
				if got.Before(at.Add(-slack)) || got.After(at.Add(c.slot+slack)) {
					t.Fatalf("due %v after a slot's start: fires %v after it, want within (0, %v]", off, got.Sub(base), c.slot)
				}
			}
			if a, b := fire(base.Add(1)), fire(base.Add(c.slot-1)); a.Sub(b).Abs() > slack {
				t.Fatalf("two dues in one slot fire %v apart", a.Sub(b))
			}
		})
	}
}
