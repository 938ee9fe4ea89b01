package notifier

import (
	"encoding/json"
	"errors"
	"math"
	"sync/atomic"
	"time"
)

// The spread window (DESIGN §2 `stale`, §6): one bump of a topic that most
// of a node's pages hold would make them all poll within the shim's jitter,
// far above what plain polling of those pages makes in that second. So the
// node tells the holders over how long to draw their polls, from what it
// knows locally: how many of its visible tabs hold the topic, out of how
// many it serves. The ratio is the same on every node behind a balancer, so
// no node needs to know the others.
//
// Plain polling of the node's V visible tabs makes V/fast polls a second.
// While a bump's H visible holders poll, the other V−H keep their safety
// net, a poll every 0.75·slow on average. The holders' polls, drawn
// uniformly over a window W, add H/W; keeping the sum within plain polling:
//
//	W = factor · H / (V/fast − (V−H)/(0.75·slow)),   at most fast
//
// A topic few pages hold gets a window below any jitter (no spread); one
// every visible page holds gets fast. factor 1 keeps the promise; above 1
// leaves a margin, below 1 trades load for earlier polls.

// DefaultSpreadFactor keeps hint-driven polls at plain polling's rate.
const DefaultSpreadFactor = 1.0

// MaxSpreadFactor bounds --spread-factor: past it every window is fast.
const MaxSpreadFactor = 10.0

// spreadWindow returns the window, in ms, for a bump that visibleHolders of
// the node's visible tabs hold; 0 when there is nothing to spread.
func spreadWindow(visibleHolders, visible int64, fast, slow time.Duration, factor float64) int64 {
	if visibleHolders <= 0 || visible <= 0 || factor <= 0 || fast <= 0 {
		return 0
	}
	h := float64(visibleHolders)
	v := math.Max(float64(visible), h)
	f := float64(fast.Milliseconds())
	budget := v / f // polls per ms, plain polling
	if slow > 0 {
		budget -= (v - h) / (0.75 * float64(slow.Milliseconds()))
	}
	if budget <= 0 {
		return int64(f)
	}
	return int64(math.Min(f, factor*h/budget))
}

// spreader keeps the node's count of visible tabs and turns a bump's
// visible holders into its window. A nil spreader spreads nothing.
type spreader struct {
	factor     float64
	fast, slow time.Duration
	visible    atomic.Int64 // visible tabs over this node's open sockets
}

func newSpreader(factor float64, fast, slow time.Duration) *spreader {
	return &spreader{factor: factor, fast: fast, slow: slow}
}

func (p *spreader) window(visibleHolders int64) int64 {
	if p == nil {
		return 0
	}
	return spreadWindow(visibleHolders, p.visible.Load(), p.fast, p.slow, p.factor)
}

// join counts a new socket's tabs (one visible until it says otherwise).
func (p *spreader) join(s *socket) {
	if p != nil {
		p.visible.Add(s.visible.Load())
	}
}

// leave uncounts a closed socket; a closed socket's count no longer moves.
func (p *spreader) leave(s *socket) {
	if p != nil {
		p.visible.Add(-s.visible.Load())
	}
}

// setTabs records a socket's `tabs` report.
func (p *spreader) setTabs(s *socket, tabs, visible int64) {
	d := s.setTabs(tabs, visible)
	if p != nil {
		p.visible.Add(d)
	}
}

// setTabs stores what the socket serves and returns the change in visible
// tabs; nothing changes once the socket is closed, so leave's count holds.
func (s *socket) setTabs(tabs, visible int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	s.tabs.Store(tabs)
	return visible - s.visible.Swap(visible)
}

var errBadTabs = errors.New("tabs must be 1..1000, or {tabs: 1..1000, visible: 0..tabs}")

// parseTabs reads a `tabs` report: a bare count (all visible, as old shims
// send it) or {"tabs":N,"visible":M}.
func parseTabs(raw json.RawMessage) (tabs, visible int64, err error) {
	if err := json.Unmarshal(raw, &tabs); err == nil {
		visible = tabs
	} else {
		var m struct {
			Tabs    *int64 `json:"tabs"`
			Visible *int64 `json:"visible"`
		}
		if json.Unmarshal(raw, &m) != nil || m.Tabs == nil || m.Visible == nil {
			return 0, 0, errBadTabs
		}
		tabs, visible = *m.Tabs, *m.Visible
	}
	if tabs < 1 || tabs > maxTabs || visible < 0 || visible > tabs {
		return 0, 0, errBadTabs
	}
	return tabs, visible, nil
}
