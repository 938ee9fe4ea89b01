// The node's spread window, as the simulated node computes it.
//
// MUST MATCH notifier/spread.go (written in parallel with this model, issue 18 item 1):
// when the two differ, change this function to compute exactly what spread.go computes
// and rerun the benchmark. The contract (COMMON.md, DESIGN §9): the node may add a second
// argument to `stale`, `{"spread": ms}`, computed from the share of its visible sockets
// that hold the topic; the shim polls within max(jitter, spread), never later than `fast`.
//
// The model: a bump of a topic whose holders are a share s of the node's visible sockets
// makes s·N hinted polls; plain polling of those N pages makes N per `fast`. Spreading the
// hinted ones over s·fast keeps them at plain polling's rate; `factor` scales that (the
// operators' knob). A socket counts as visible when it reported at least one visible tab
// (`tabs` {"tabs":n,"visible":v}); a socket that never reported, or reported a bare number,
// counts as visible (old shims).
export function spreadWindowMs({ holdersVisible, socketsVisible, fast, factor = 1 }) {
  if (socketsVisible <= 0 || holdersVisible <= 0) return 0;
  const share = Math.min(1, holdersVisible / socketsVisible);
  return Math.round(factor * share * fast);
}

// visibleTabs reads a `tabs` message: a bare number (old shims) is that many tabs, all
// visible; {"tabs":n,"visible":v} says how many are visible. Anything else: one visible.
export function visibleTabs(msg) {
  if (typeof msg === "number" && msg >= 0) return { tabs: msg, visible: msg };
  if (msg && typeof msg === "object" && typeof msg.tabs === "number") {
    const v = typeof msg.visible === "number" ? Math.max(0, Math.min(msg.visible, msg.tabs)) : msg.tabs;
    return { tabs: msg.tabs, visible: v };
  }
  return { tabs: 1, visible: 1 };
}
