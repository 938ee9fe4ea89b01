// The node's spread window, as the simulated node computes it: a port of notifier/spread.go
// (spreadWindow, parseTabs) and of the lone-holder rule of hub.fanOut, pinned to them by
// notifier/testdata/spread_window.json, which `go test ./notifier -run Spread` and
// `node --test scripts/bench/efficacy/` both check, and by a Go test that runs this file
// under node over a grid of inputs (notifier/spread_sim_test.go).
//
// With H the visible tabs that hold the topic on the node and V the node's visible tabs,
// plain polling of the V makes V/fast polls a ms; the V−H others keep their safety net
// (a poll every 0.75·slow on average), so the H holders' polls, drawn over W, may add
//
//	W = factor · H / (V/fast − (V−H)/(0.75·slow)),   at most fast
//
// The same float operations in the same order as the Go, and Go's truncation to whole ms.
export function spreadWindowMs({ visibleHolders, visible, fast, slow, factor = 1 }) {
  if (visibleHolders <= 0 || visible <= 0 || factor <= 0 || fast <= 0) return 0;
  const h = visibleHolders;
  const v = Math.max(visible, h);
  const f = Math.trunc(fast);
  let budget = v / f;
  if (slow > 0) budget -= (v - h) / (0.75 * Math.trunc(slow));
  if (budget <= 0) return f;
  return Math.trunc(Math.min(f, (factor * h) / budget));
}

// nodeSpreadMs is the window a node puts on one bump's hint (hub.fanOut): holders are the
// topic's holder sockets on the node, visible the node's count of visible tabs (every open
// socket's last `tabs` report; a socket counts one visible tab until it reports). A bump
// held by one socket only has no herd to spread: no window, the frame an old shim reads.
export function nodeSpreadMs(holders, visible, { fast, slow, factor }) {
  if (holders.size <= 1) return 0;
  let visibleHolders = 0;
  for (const s of holders) visibleHolders += s.visible;
  return spreadWindowMs({ visibleHolders, visible, fast, slow, factor });
}

const MAX_TABS = 1000; // notifier/events.go maxTabs

// parseTabs reads a `tabs` report as the node does: a bare count (old shims: all visible)
// or {tabs, visible}; tabs 1..1000, visible 0..tabs, whole numbers. A bad report is
// ignored (null): the socket keeps what it had.
export function parseTabs(msg) {
  let tabs;
  let visible;
  if (typeof msg === "number") {
    tabs = visible = msg;
  } else if (msg && typeof msg === "object" && !Array.isArray(msg)) {
    ({ tabs, visible } = msg);
  }
  if (!Number.isInteger(tabs) || !Number.isInteger(visible)) return null;
  if (tabs < 1 || tabs > MAX_TABS || visible < 0 || visible > tabs) return null;
  return { tabs, visible };
}
