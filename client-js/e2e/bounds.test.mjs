// Never worse than polling, in real headless Chromium against the real notifier and a real
// redis-server: a busy topic, the end of an outage, absurd server intervals and a hung poll
// must not cost the app more polls than plain polling at the page's own `fast`, nor stop
// polling. Many shims run in one page (each on its own socket) to keep the run short; each
// polls the app as a page of its own. Measured figures are printed for the README.
/* global PushPoll -- the script-tag build, in the page */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mintToken, publish, report, sleep, startStack, waitFor } from "./harness.mjs";

const FAST = 2000;
const SLOW = 10000;
const JITTER = 300;

let stack, app, notifier, browser;
let seq = 0;

before(async () => {
  stack = await startStack({ fast: `${FAST}ms`, slow: `${SLOW}ms` });
  ({ app, notifier, browser } = stack);
});

after(() => stack && stack.stop());

// Starts one shim per entry of `shims` ({id, topic, hang, query}) in a fresh page. A shim
// with hang: ms answers its first poll only after that long (an empty answer), and records
// when in `released`.
async function openPage(shims, opts = {}, route) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err));
  if (route) await page.routeWebSocket(/\/socket\.io\//, route);
  await page.goto(app.origin + "/");
  const withTokens = shims.map((s) => ({ ...s, token: mintToken({ topics: [s.topic] }) }));
  await page.evaluate(
    ({ shims, opts, url }) => {
      window.shims = {};
      for (const s of shims) {
        const rec = { mode: "", errors: [], hung: false, released: 0 };
        window.shims[s.id] = rec;
        rec.pp = PushPoll.start(
          Object.assign({}, opts, {
            url,
            token: s.token,
            topics: { [s.topic]: 0 },
            socketOptions: Object.assign({}, opts.socketOptions, { query: { e2e: s.query || s.id } }),
            poll: function () {
              if (s.hang && !rec.hung) {
                rec.hung = true;
                return new Promise(function (resolve) {
                  setTimeout(function () {
                    rec.released = Date.now();
                    resolve({});
                  }, s.hang);
                });
              }
              return fetch("/poll?page=" + encodeURIComponent(s.id) + "&topics=" + encodeURIComponent(s.topic)).then((r) => r.json());
            },
            onMode: (m) => (rec.mode = m),
            onError: (err) => rec.errors.push(String((err && err.message) || err)),
          }),
        );
        rec.mode = rec.pp.mode;
      }
    },
    { shims: withTokens, opts: { fast: FAST, jitter: JITTER, ...opts }, url: notifier.url },
  );
  return {
    page,
    modes: () => page.evaluate(() => Object.values(window.shims).map((r) => r.mode)),
    errors: (id) => page.evaluate((id) => window.shims[id].errors, id),
    async allIn(mode, timeout = 20000) {
      await page.waitForFunction((m) => Object.values(window.shims).every((r) => r.mode === m), mode, { timeout, polling: 50 });
    },
    async close() {
      await page.evaluate(() => Object.values(window.shims).forEach((r) => r.pp.stop()));
      await context.close();
      assert.deepEqual(pageErrors.map(String), [], "uncaught errors in the page");
    },
  };
}

// Polls of `id` that reached the app in [from, to) (Date.now()).
const pollsIn = (id, from, to) => app.polls(id).filter((p) => p.at >= from && p.at < to);

// Independent pages on a healthy notifier: run together to keep the suite short.
describe("on a healthy notifier", { concurrency: true }, () => {
  test("a topic bumped 5 times a second for 12 s costs no more polls than fast allows", async () => {
    const topic = `bounds:busy:${++seq}`;
    const ids = ["busy-a", "busy-b", "busy-c"].map((x) => `${x}-${seq}`);
    app.versions.set(topic, 0);
    const p = await openPage(ids.map((id) => ({ id, topic })));
    try {
      await p.allIn("push");
      const t0 = Date.now();
      let v = 0;
      for (let i = 0; i < 60; i++) {
        v++;
        app.versions.set(topic, v);
        await publish(notifier.url, { topic, v });
        const next = t0 + (i + 1) * 200;
        if (next > Date.now()) await sleep(next - Date.now());
      }
      // The trailing poll comes at most one throttle window (fast) after the last hint.
      await sleep(FAST + JITTER + 500);
      const end = Date.now();
      const counts = ids.map((id) => pollsIn(id, t0, end).length);
      const allowed = Math.floor((end - t0) / FAST) + 1;
      report(`busy topic, 60 bumps in 12 s: polls per page ${counts.join(", ")} (plain polling at fast ${FAST} ms: ≤ ${allowed})`);
      for (const [i, id] of ids.entries()) {
        assert.ok(counts[i] <= allowed, `${id}: ${counts[i]} polls`);
        const last = app.polls(id)[app.polls(id).length - 1];
        assert.equal(last.answer[topic], v, `${id} did not end on the last version`);
      }
      assert.deepEqual(await p.modes(), ["push", "push", "push"]);
    } finally {
      await p.close();
    }
  });

  test("absurd server intervals (fast 1 ms, slow 900 h) cause no storm", async () => {
    const topic = `bounds:absurd:${++seq}`;
    app.versions.set(topic, 1);
    const ids = { push: `absurd-push-${seq}`, poll: `absurd-poll-${seq}` };
    // The notifier's mode event, rewritten on its way to the page: one shim is told push
    // with slow 900 h (past setTimeout's 2^31-1 ms), the other poll with fast 1 ms.
    const route = (ws) => {
      const server = ws.connectToServer();
      const which = new URL(ws.url()).searchParams.get("e2e");
      server.onMessage((m) => {
        if (typeof m === "string" && m.startsWith('42["mode",')) {
          const [, msg] = JSON.parse(m.slice(2));
          msg.fast = 1;
          msg.slow = 900 * 3600 * 1000;
          if (which === "poll") msg.mode = "poll";
          m = "42" + JSON.stringify(["mode", msg]);
        }
        ws.send(m);
      });
    };
    const p = await openPage(
      [
        { id: ids.push, topic, query: "push" },
        { id: ids.poll, topic, query: "poll" },
      ],
      { transports: ["websocket"] }, // every event on the routed websocket
      route,
    );
    try {
      await p.page.waitForFunction((id) => window.shims[id].mode === "push", ids.push, { timeout: 20000, polling: 50 });
      const t0 = Date.now();
      const windowMs = 5000;
      await sleep(windowMs);
      const push = pollsIn(ids.push, t0, t0 + windowMs).length;
      const poll = pollsIn(ids.poll, t0, t0 + windowMs).length;
      report(`absurd server intervals: push shim (slow 900 h) ${push} polls, poll shim (fast 1 ms) ${poll} polls in ${windowMs} ms`);
      // slow clamped to slowMax (10 min): no more than plain polling at the page's fast.
      assert.ok(push <= windowMs / FAST + 1, `push shim: ${push} polls`);
      // fast clamped to the floor, 1 s: at most one a second.
      assert.ok(poll <= windowMs / 1000 + 1, `poll shim: ${poll} polls`);
      assert.match((await p.errors(ids.push)).join("\n"), /server slow 3240000000 is outside/);
      assert.match((await p.errors(ids.poll)).join("\n"), /server fast 1 is outside/);
    } finally {
      await p.close();
    }
  });

  test("a hung poll is timed out, and the next starts only once the app's request ends", async () => {
    const topic = `bounds:hung:${++seq}`;
    const id = `hung-${seq}`;
    const HANG = FAST + 4000; // past pollTimeout and past the retry's due time
    app.versions.set(topic, 1);
    const p = await openPage([{ id, topic, hang: HANG }], { pollTimeout: 1500 });
    try {
      await p.allIn("push");
      const t0 = Date.now();
      app.versions.set(topic, 2);
      await publish(notifier.url, { topic, v: 2 }); // its poll hangs
      await waitFor(async () => (await p.errors(id)).some((e) => /did not settle/.test(e)), { timeout: 5000, what: "the poll timeout" });
      // The retry, due after fast, waits for the hung request to end and then answers the
      // hint the hung poll did not: never two of the app's polls in flight.
      await waitFor(() => app.polls(id).some((q) => q.answer[topic] === 2), { timeout: HANG + 3000, what: "a poll after the hung one" });
      const released = await p.page.evaluate((id) => window.shims[id].released, id);
      assert.ok(released > 0 && app.polls(id)[0].at >= released, `a poll reached the app at ${app.polls(id)[0].at}, the hung one ended at ${released}`);
      app.versions.set(topic, 3);
      await publish(notifier.url, { topic, v: 3 });
      await waitFor(() => app.polls(id).some((q) => q.answer[topic] === 3), { timeout: FAST + 3000, what: "a hinted poll after that" });
      report(`hung poll: timed out (pollTimeout 1500 ms), then ${app.polls(id).length} polls in ${Date.now() - t0} ms, both bumps fetched`);
      assert.deepEqual(await p.modes(), ["push"]);
    } finally {
      await p.close();
    }
  });
});

test("many pages after an outage do not poll in one herd", async () => {
  const N = 40;
  const shims = [];
  for (let i = 0; i < N; i++) {
    const topic = `bounds:herd:${seq}:${i}`;
    app.versions.set(topic, 1);
    shims.push({ id: `herd-${seq}-${i}`, topic });
  }
  // Reconnects at most 2 s apart: the pages come back to push together (the case that made
  // herds) and soon (a short run).
  const p = await openPage(shims, { socketOptions: { reconnectionDelayMax: 2000 } });
  try {
    await p.allIn("push", 30000);
    await notifier.kill();
    await p.allIn("poll", 10000);
    await sleep(5000);
    await notifier.start();
    await p.allIn("push", 30000);
    const t0 = Date.now();
    const windowMs = SLOW;
    await sleep(windowMs);
    const perSecond = new Array(windowMs / 1000).fill(0);
    for (const s of shims) for (const q of pollsIn(s.id, t0, t0 + windowMs)) perSecond[Math.floor((q.at - t0) / 1000)]++;
    const total = perSecond.reduce((a, b) => a + b, 0);
    const peak = Math.max(...perSecond);
    report(
      `herd: ${N} pages (fast ${FAST} ms, slow ${SLOW} ms) after a 5 s outage: ${total} polls in ${windowMs / 1000} s, ` +
        `mean ${(total / (windowMs / 1000)).toFixed(1)}/s, peak ${peak}/s; per second ${perSecond.join(" ")}`,
    );
    // Polls spread over [slow/2, slow] make about N/7.5 per second; pages still in step
    // would put N/2 or more in one second.
    assert.ok(peak <= 0.4 * N, `peak ${peak} polls in one second: ${perSecond.join(" ")}`);
    assert.ok(total <= (N * windowMs) / (SLOW / 2) + N, `${total} polls`);
  } finally {
    if (!notifier.running) await notifier.start();
    await p.close();
  }
});
