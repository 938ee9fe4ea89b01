// The simulator's node must put on each hint the window the real node would
// (notifier/spread.go): the golden cases below are also checked by
// `go test ./notifier -run Spread` against the real hub.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { nodeSpreadMs, parseTabs, spreadWindowMs } from "./spread.mjs";

const golden = JSON.parse(readFileSync(new URL("../../../notifier/testdata/spread_window.json", import.meta.url)));

for (const c of golden.cases) {
  test(`spread window: ${c.name}`, () => {
    // The node's count: every socket one visible tab until a good report says otherwise.
    const holders = new Set();
    let visible = 0;
    for (const g of c.sockets) {
      for (let i = 0; i < g.n; i++) {
        const s = { visible: 1 };
        const r = g.report === null ? null : parseTabs(g.report);
        if (r) s.visible = r.visible;
        visible += s.visible;
        if (g.holds) holders.add(s);
      }
    }
    assert.equal(nodeSpreadMs(holders, visible, { fast: c.fastMs, slow: c.slowMs, factor: c.factor }), c.spread);
  });
}

test("parseTabs takes what the node takes and nothing else", () => {
  assert.deepEqual(parseTabs(5), { tabs: 5, visible: 5 });
  assert.deepEqual(parseTabs({ tabs: 5, visible: 2 }), { tabs: 5, visible: 2 });
  assert.deepEqual(parseTabs({ tabs: 1, visible: 0 }), { tabs: 1, visible: 0 });
  for (const bad of [0, 1001, -1, 2.5, "3", null, undefined, {}, { tabs: 2 }, { visible: 1 }, { tabs: 2, visible: 3 }, { tabs: 2, visible: -1 }, { tabs: "2", visible: 1 }, [2, 1]]) {
    assert.equal(parseTabs(bad), null, JSON.stringify(bad));
  }
});

test("spreadWindowMs: more holders than counted visible count as all", () => {
  assert.equal(spreadWindowMs({ visibleHolders: 7, visible: 5, fast: 5000, slow: 60000 }), 5000);
  assert.equal(spreadWindowMs({ visibleHolders: 0, visible: 5, fast: 5000, slow: 60000 }), 0);
  assert.equal(spreadWindowMs({ visibleHolders: 5, visible: 0, fast: 5000, slow: 60000 }), 0);
});
