package notifier

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fired records what a throttle sent, per topic, in order.
type fired struct {
	mu     sync.Mutex
	seen   map[string][]int64
	lastTS map[string]int64 // the publish time the last fan-out carried
	held   int
}

func newFired() *fired { return &fired{seen: map[string][]int64{}, lastTS: map[string]int64{}} }

func (f *fired) fire(topic string, v, ts int64) {
	f.mu.Lock()
	f.seen[topic] = append(f.seen[topic], v)
	f.lastTS[topic] = ts
	f.mu.Unlock()
}

func (f *fired) onHeld() {
	f.mu.Lock()
	f.held++
	f.mu.Unlock()
}

func (f *fired) of(topic string) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.seen[topic]...)
}

func TestThrottleLeadingThenOneTrailingOfTheNewest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFired()
		th := newHintThrottle(time.Second, f.fire, f.onHeld)
		th.bump("a", 1, 0)
		if got := f.of("a"); fmt.Sprint(got) != "[1]" {
			t.Fatalf("after the first bump: %v, want [1] at once", got)
		}
		th.bump("a", 3, 30)
		th.bump("a", 2, 20) // out of order: the newest held stays 3, published at 30
		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if got := f.of("a"); fmt.Sprint(got) != "[1]" {
			t.Fatalf("inside the window: %v, want nothing more yet", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := f.of("a"); fmt.Sprint(got) != "[1 3]" || f.lastTS["a"] != 30 {
			t.Fatalf("at the window's end: %v (ts %d), want [1 3] with v3's ts 30", got, f.lastTS["a"])
		}
		if f.held != 2 {
			t.Fatalf("held = %d, want 2", f.held)
		}
		// The trailing fan-out opened another window; a quiet one ends it
		// and the topic is forgotten with its timer.
		if th.pending() != 1 {
			t.Fatalf("pending = %d right after the trailing fan-out, want 1", th.pending())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if th.pending() != 0 || len(f.of("a")) != 2 {
			t.Fatalf("after a quiet window: pending %d, fired %v; want 0 and no more", th.pending(), f.of("a"))
		}
		// Quiet again: the next bump leads at once.
		th.bump("a", 4, 0)
		if got := f.of("a"); fmt.Sprint(got) != "[1 3 4]" {
			t.Fatalf("after the quiet spell: %v, want 4 at once", got)
		}
	})
}

// A 10,000-bump burst over two seconds costs at most one fan-out per window
// (plus the leading one) and always ends at the last version.
func TestThrottleBoundsABurstAndEndsAtTheLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = 100 * time.Millisecond
		f := newFired()
		th := newHintThrottle(window, f.fire, f.onHeld)
		start := time.Now()
		for v := int64(1); v <= 10000; v++ {
			th.bump("hot", v, 0)
			time.Sleep(200 * time.Microsecond)
		}
		burst := time.Since(start)
		time.Sleep(window)
		synctest.Wait()
		got := f.of("hot")
		if bound := int(burst/window) + 2; len(got) > bound {
			t.Fatalf("%d fan-outs for a %v burst, want at most %d", len(got), burst, bound)
		}
		if got[len(got)-1] != 10000 {
			t.Fatalf("last fan-out v%d, want v10000", got[len(got)-1])
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("fan-outs not rising: %v", got)
			}
		}
		if f.held != 9999 {
			t.Fatalf("held %d bumps, want all but the leading one (9999)", f.held)
		}
	})
}

// Timers do not outlive busy spells: many topics bumped and left alone hold
// no timer after a quiet window, and stop cancels whatever is pending.
func TestThrottleLeavesNoTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFired()
		th := newHintThrottle(time.Second, f.fire, f.onHeld)
		for i := range 1000 {
			topic := fmt.Sprint("t", i)
			th.bump(topic, 1, 0)
			if i%2 == 0 {
				th.bump(topic, 2, 0)
			}
		}
		if th.pending() != 1000 {
			t.Fatalf("pending = %d, want one per busy topic (1000)", th.pending())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if th.pending() != 0 {
			t.Fatalf("pending = %d after every topic went quiet, want 0", th.pending())
		}

		th.bump("x", 1, 0)
		th.bump("x", 2, 0)
		th.stop()
		th.stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := f.of("x"); fmt.Sprint(got) != "[1]" || th.pending() != 0 {
			t.Fatalf("after stop: fired %v, pending %d; want [1] and 0", got, th.pending())
		}
		th.bump("x", 3, 0)
		if got := f.of("x"); len(got) != 1 {
			t.Fatalf("a bump after stop fanned out: %v", got)
		}
	})
}

func TestThrottleOffPassesEveryBump(t *testing.T) {
	f := newFired()
	th := newHintThrottle(0, f.fire, f.onHeld)
	for v := int64(1); v <= 3; v++ {
		th.bump("a", v, 0)
	}
	if got := f.of("a"); fmt.Sprint(got) != "[1 2 3]" || th.pending() != 0 {
		t.Fatalf("window 0: fired %v, pending %d; want every bump and no timer", got, th.pending())
	}
}
