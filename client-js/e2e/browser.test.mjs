// The shim in real headless Chromium against the real notifier and a real redis-server,
// over both transports: websocket (the shim's default, websocket first) and long-polling
// only. The page comes from the app's origin and loads /pushpoll.js from the
// notifier's, as in production. Measured figures are printed for the README.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mintToken, publish, report, sleep, startStack, waitFor } from "./harness.mjs";

// Short intervals keep the run short; the behaviour scales with them.
const FAST = 1000;
const SLOW = 30000;
const JITTER = 300;
// The drain window the notifier gets on SIGTERM; it tells clients to move within 2/3 of it.
const DRAIN = 3000;

let stack, app, notifier, browser;
let seq = 0;

before(async () => {
  stack = await startStack({ fast: `${FAST}ms`, slow: `${SLOW}ms`, args: ["--drain-timeout", `${DRAIN}ms`] });
  ({ app, notifier, browser } = stack);
});

after(() => stack && stack.stop());

// Opens a fresh page (own context, so no shared cache or connection) and starts the shim
// on it. The returned handle records the page's errors and its socket.io traffic.
async function openShim(label, name, { transports, topics, enabled = true }) {
  const id = `${label}-${name}-${++seq}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors = [];
  const socketRequests = [];
  const refused = [];
  const websockets = [];
  page.on("pageerror", (err) => pageErrors.push(err));
  page.on("request", (req) => {
    if (req.url().includes("/socket.io/")) socketRequests.push(req.url());
  });
  page.on("response", async (res) => {
    if (res.url().includes("/socket.io/") && res.status() >= 400) {
      const body = await res.text().catch(() => "");
      refused.push(`${res.status()} ${res.request().method()} ${body.trim()}`);
    }
  });
  // Each websocket: whether Engine.IO opened a session on it (the server sent "0{...}").
  const wsState = [];
  page.on("websocket", (ws) => {
    websockets.push(ws.url());
    const st = { open: false, closed: false };
    wsState.push(st);
    ws.on("framereceived", (f) => {
      if (typeof f.payload === "string" && f.payload.startsWith("0{")) st.open = true;
    });
    ws.on("close", () => {
      st.closed = true;
    });
  });
  await page.goto(app.origin + "/");
  const opts = { page: id, topics, fast: FAST, slow: SLOW, jitter: JITTER, enabled };
  if (enabled) {
    opts.url = notifier.url;
    opts.token = mintToken({ topics: Object.keys(topics) });
  }
  if (transports) opts.transports = transports;
  const initial = await page.evaluate((o) => window.startShim(o), opts);
  return {
    id,
    page,
    initial,
    pageErrors,
    socketRequests,
    refused,
    websockets,
    // Engine.IO handshakes: socket.io requests and websockets without a session id. One
    // per connection.
    handshakes: () => socketRequests.concat(websockets).filter((u) => !/[?&]sid=/.test(u)).length,
    mode: () => page.evaluate(() => window.e2e.pp.mode),
    state: () => page.evaluate(() => window.e2e),
    async waitMode(mode, timeout = 10000) {
      await page.waitForFunction((m) => window.e2e.pp.mode === m, mode, { timeout, polling: 20 });
    },
    // Push mode on a settled connection: with the default transports, on a websocket.
    async ready(timeout = 20000) {
      const end = Date.now() + timeout;
      if (!transports) {
        await waitFor(() => wsState.some((w) => w.open && !w.closed), { timeout, what: "a websocket session" });
      }
      await this.waitMode("push", Math.max(1000, end - Date.now()));
    },
    // Ends the scenario: no uncaught page error, and the transport was the one asked for.
    async finish() {
      const state = await page.evaluate(() => window.e2e);
      await page.evaluate(() => window.e2e.pp.stop());
      // Long-polling says goodbye in a POST: give it time to leave before the page goes.
      await sleep(300);
      await context.close();
      assert.deepEqual(pageErrors.map(String), [], "uncaught errors in the page");
      if (enabled && transports && !transports.includes("websocket")) {
        assert.deepEqual(websockets, [], "long-polling only, yet a websocket was opened");
      }
      return state;
    },
  };
}

// Records a bump in the app, then publishes it, as an app would.
async function bump(topic, v) {
  app.versions.set(topic, v);
  await publish(notifier.url, { topic, v });
}

// Polls the app answered with version v of topic: one bump must cost exactly one.
const fetching = (polls, topic, v) => polls.filter((p) => p.answer[topic] === v);

async function sleepUntil(t) {
  const ms = t - Date.now();
  if (ms > 0) await sleep(ms);
}

const transports = [
  ["websocket", undefined],
  ["polling", ["polling"]],
];

for (const [label, tr] of transports) {
  describe(`transport ${label}`, () => {
    test("connecting: one handshake per page, nothing refused, no session left behind", async () => {
      // Sessions left by earlier tests (a killed page's long-poll lingers until the ping
      // timeout) are not this test's: compare with what was there before.
      const baseline = await notifier.metric("pushpoll_sockets");
      const pages = 5;
      const rows = [];
      const failures = [];
      for (let i = 0; i < pages; i++) {
        const topic = `e2e:${label}:connect:${i}`;
        app.versions.set(topic, 1);
        const t0 = Date.now();
        const s = await openShim(label, "connect", { transports: tr, topics: { [topic]: 1 } });
        await s.waitMode("push", 20000);
        const pushMs = Date.now() - t0;
        await sleep(200);
        rows.push(`${pushMs} ms/${s.handshakes()} handshake(s)`);
        if (s.handshakes() !== 1 || s.refused.length > 0) failures.push({ page: i, handshakes: s.handshakes(), refused: s.refused });
        if (!tr) {
          assert.equal(s.websockets.length, 1, "the default connects over one websocket");
          assert.deepEqual(s.socketRequests, [], "the default sends no long-polling request");
        }
        await s.finish();
      }
      report(`[${label}] connect to push, ${pages} pages: ${rows.join(", ")}`);
      let left;
      try {
        await waitFor(async () => (left = await notifier.metric("pushpoll_sockets")) <= baseline, { timeout: 3000, what: "pushpoll_sockets back to its baseline" });
      } catch (_) {
        failures.push({ socketsBefore: baseline, socketsAfterClose: left });
      }
      assert.deepEqual(failures, [], "pages reconnected, were refused, or left sessions behind");
    });

    test("healthy push: at most the one safety-net poll over a window shorter than slow", async () => {
      const topic = `e2e:${label}:healthy`;
      app.versions.set(topic, 10);
      const s = await openShim(label, "healthy", { transports: tr, topics: { [topic]: 10 } });
      await s.ready();
      const since = Date.now();
      await sleep(5000);
      const n = app.pollsSince(s.id, since).length;
      report(`[${label}] healthy push: ${n} polls in 5000 ms (slow ${SLOW} ms)`);
      // Entering push draws the first safety-net poll anywhere in one slow interval.
      assert.ok(n <= 1, `${n} polls`);
      if (!tr) assert.ok(s.websockets.length >= 1, "no websocket was opened");
      const state = await s.finish();
      assert.deepEqual(state.errors, [], "the shim reported errors");
    });

    test("one bump: one poll fetches it within jitter + 1 s", async () => {
      const topic = `e2e:${label}:bump`;
      app.versions.set(topic, 10);
      const s = await openShim(label, "bump", { transports: tr, topics: { [topic]: 10 } });
      await s.ready();
      const t0 = Date.now();
      await bump(topic, 11);
      await sleepUntil(t0 + JITTER + 1000);
      const polls = app.pollsSince(s.id, t0);
      const state = await s.state();
      const hint = state.hints.find((h) => h.topic === topic && h.v === 11);
      assert.ok(hint, `no stale hint arrived: ${JSON.stringify(state.hints)}`);
      assert.equal(fetching(polls, topic, 11).length, 1, `polls: ${JSON.stringify(polls)}`);
      // The first safety-net poll after entering push may fall in this window too, and
      // when it comes sooner than the hinted one would, it is the one that fetches.
      assert.ok(polls.length <= 2, `polls: ${JSON.stringify(polls)}`);
      const hintToPoll = state.polls.find((p) => p.got[topic] === 11).at - hint.at;
      report(
        `[${label}] one bump: 1 poll; publish→hint ${hint.wall - t0} ms, hint→poll ${hintToPoll.toFixed(0)} ms (jitter ${JITTER}), ` +
          `publish→poll at the app ${fetching(polls, topic, 11)[0].at - t0} ms`,
      );
      assert.ok(hintToPoll <= JITTER + 1000, `hint→poll ${hintToPoll} ms`);
      assert.equal(await s.mode(), "push");
      const end = await s.finish();
      assert.deepEqual(end.errors, [], "the shim reported errors");
    });

    test("a burst of 20 bumps: at most 3 polls, ending on the last version", async () => {
      const topic = `e2e:${label}:burst`;
      app.versions.set(topic, 100);
      const s = await openShim(label, "burst", { transports: tr, topics: { [topic]: 100 } });
      await s.ready();
      const t0 = Date.now();
      for (let i = 1; i <= 20; i++) await bump(topic, 100 + i);
      const burstMs = Date.now() - t0;
      await sleepUntil(Date.now() + JITTER + 1500);
      const polls = app.pollsSince(s.id, t0);
      const state = await s.state();
      report(`[${label}] burst of 20 bumps in ${burstMs} ms: ${state.hints.length} hints received, ${polls.length} polls`);
      assert.ok(polls.length >= 1 && polls.length <= 3, `${polls.length} polls`);
      assert.equal(state.polls[state.polls.length - 1].got[topic], 120, "the page did not end on the last version");
      const end = await s.finish();
      assert.deepEqual(end.errors, [], "the shim reported errors");
    });

    test("notifier killed: poll mode at the fast rate, then push again when it is back", async () => {
      const topic = `e2e:${label}:kill`;
      app.versions.set(topic, 5);
      const s = await openShim(label, "kill", { transports: tr, topics: { [topic]: 5 } });
      try {
        await s.ready();
        const tk = Date.now();
        await notifier.kill();
        await s.waitMode("poll", 5000);
        const detectMs = Date.now() - tk;
        const since = Date.now();
        const windowMs = 4000;
        await sleep(windowMs);
        const n = app.pollsSince(s.id, since).length;
        report(`[${label}] SIGKILL: poll mode after ${detectMs} ms; ${n} polls in ${windowMs} ms (fast ${FAST} ms, expect ≈${windowMs / FAST})`);
        assert.ok(n >= windowMs / FAST - 1 && n <= windowMs / FAST + 1, `${n} polls in ${windowMs} ms`);

        const tr0 = Date.now();
        await notifier.start();
        await s.ready(40000);
        const backMs = Date.now() - tr0;
        // Push works again: one bump, one hinted poll.
        await sleep(FAST + 100); // let a periodic poll started before push settle
        const t0 = Date.now();
        await bump(topic, 6);
        await sleepUntil(t0 + JITTER + 1000);
        const after = app.pollsSince(s.id, t0);
        const state = await s.state();
        const hint = state.hints.find((h) => h.topic === topic && h.v === 6);
        assert.ok(hint, `no stale hint arrived: ${JSON.stringify(state.hints)}`);
        const fetched = fetching(after, topic, 6).length;
        report(`[${label}] notifier back on the same address: push again after ${backMs} ms; a bump then made ${after.length} poll(s), ${fetched} fetching it`);
        assert.equal(fetched, 1);
        assert.ok(after.length <= 2, `${after.length} polls`);
        assert.equal(await s.mode(), "push");
      } finally {
        if (!notifier.running) await notifier.start();
        await s.finish();
      }
    });

    test("notifier drained (SIGTERM): poll mode at once, clean exit, push again after restart", async () => {
      const topic = `e2e:${label}:drain`;
      app.versions.set(topic, 5);
      const s = await openShim(label, "drain", { transports: tr, topics: { [topic]: 5 } });
      try {
        await s.ready();
        const t0 = Date.now();
        const exited = notifier.terminate();
        await s.waitMode("poll", 2000);
        const drainMs = Date.now() - t0;
        const res = await exited;
        const exitMs = Date.now() - t0;
        report(`[${label}] SIGTERM: poll mode after ${drainMs} ms; notifier exited after ${exitMs} ms (drain timeout ${DRAIN} ms) with ${JSON.stringify(res)}`);
        assert.equal(res.code, 0, notifier.logs());
        assert.ok(exitMs < DRAIN + 3000, `drain took ${exitMs} ms`);
        const tr0 = Date.now();
        await notifier.start();
        await s.ready(40000);
        report(`[${label}] after drain and restart: push again after ${Date.now() - tr0} ms`);
      } finally {
        if (!notifier.running) await notifier.start();
        await s.finish();
      }
    });

    test("enabled:false: no socket traffic at all, polls at fast", async () => {
      const topic = `e2e:${label}:off`;
      app.versions.set(topic, 1);
      const s = await openShim(label, "off", { transports: tr, topics: { [topic]: 1 }, enabled: false });
      const since = Date.now();
      assert.equal(s.initial, "off");
      const windowMs = 6000;
      await sleep(windowMs);
      const n = app.pollsSince(s.id, since).length;
      report(`[${label}] enabled:false: ${n} polls in ${windowMs} ms (fast ${FAST} ms), ${s.socketRequests.length} socket.io requests`);
      assert.deepEqual(s.socketRequests, []);
      assert.deepEqual(s.websockets, []);
      // ≈ window / fast; one poll of slack each way for timers running late
      // on a loaded machine (the first poll is spread over one interval).
      assert.ok(n >= windowMs / FAST - 2 && n <= windowMs / FAST + 1, `${n} polls`);
      assert.equal(await s.mode(), "off");
      const state = await s.finish();
      assert.deepEqual(state.errors, []);
    });
  });
}
