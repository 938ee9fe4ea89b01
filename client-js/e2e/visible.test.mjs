// Back in view after a silent link (issue #18): a tab hidden while its notifier went silent
// (frozen with SIGSTOP: the websocket stays open, nothing comes through it) must stop
// trusting push the moment it is shown, and poll within jitter + 1 s, not after the rest
// of its heartbeat watchdog. When the notifier runs again, the page returns to push.
//
// Headless Chromium reports every page as visible (window.open, bringToFront and CDP's
// lifecycle states leave document.hidden false), so the page's document says it is hidden
// and fires visibilitychange itself; the timers, the socket and the notifier are real.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mintToken, report, sleep, startStack } from "./harness.mjs";

const FAST = 1000;
const SLOW = 30000;
const JITTER = 300;
// The shim's watchdog is the server's ping interval plus 10 s (pushpoll.js
// HEARTBEAT_MARGIN); a 1 s interval keeps the silent spell short. socket.io-client gives up
// on its own after the interval plus the ping timeout: 20 s leaves that later than the
// watchdog, as the defaults (25 s + 20 s) do.
const PING = 1000;
const PING_TIMEOUT = 20000;
const WATCHDOG = PING + 10000;
// A timer on a loaded 2-core machine can fire this late.
const LATE = 1500;

let stack;

before(async () => {
  stack = await startStack({ fast: `${FAST}ms`, slow: `${SLOW}ms`, args: ["--ping-interval", `${PING}ms`, "--ping-timeout", `${PING_TIMEOUT}ms`] });
});

after(async () => {
  if (stack && stack.notifier.running) stack.notifier.proc.child.kill("SIGCONT");
  if (stack) await stack.stop();
});

const setHidden = (page, hidden) =>
  page.evaluate((h) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => h });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (h ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange"));
    return performance.now();
  }, hidden);

test("shown after a silent spell longer than the watchdog: polls within jitter + 1 s, push again once the node runs", async () => {
  const { app, notifier, browser } = stack;
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err));
  await page.goto(app.origin + "/");
  const topic = "visible:1";
  app.versions.set(topic, 1);
  await page.evaluate(
    (o) => window.startShim(o),
    { page: "visible", topics: { [topic]: 1 }, fast: FAST, slow: SLOW, jitter: JITTER, url: notifier.url, token: mintToken({ topics: [topic] }) },
  );
  await page.waitForFunction(() => window.e2e.pp.mode === "push", null, { timeout: 20000, polling: 20 });

  await setHidden(page, true);
  notifier.proc.child.kill("SIGSTOP");
  try {
    // Silent for longer than the watchdog while hidden (a hidden tab re-arms it and does not
    // poll), and not as long as socket.io's own ping timeout: only the shim can notice.
    await sleep(WATCHDOG + 2000);
    const before = await page.evaluate(() => ({ mode: window.e2e.pp.mode, polls: window.e2e.polls.length }));
    assert.equal(before.mode, "push", "precondition: socket.io-client has not closed the silent link yet");

    const shownAt = await setHidden(page, false);
    await page.waitForFunction((n) => window.e2e.polls.length > n, before.polls, { timeout: JITTER + LATE + 5000, polling: 20 });
    const after = await page.evaluate((n) => ({ mode: window.e2e.pp.mode, poll: window.e2e.polls[n] }), before.polls);
    const delay = after.poll.at - shownAt;
    report(`shown after ${WATCHDOG + 2000} ms of silence: first poll after ${delay.toFixed(0)} ms, mode ${after.mode}`);
    assert.ok(delay <= JITTER + LATE, `first poll ${delay.toFixed(0)} ms after the tab was shown, want ≤ jitter + ${LATE} ms`);
    assert.notEqual(after.mode, "push", "a silent link is not trusted once the tab is shown");
  } finally {
    notifier.proc.child.kill("SIGCONT");
  }

  // The node runs again: its socket times out or answers, and the page returns to push.
  await page.waitForFunction(() => window.e2e.pp.mode === "push", null, { timeout: 60000, polling: 50 });
  await page.evaluate(() => window.e2e.pp.stop());
  await context.close();
  assert.deepEqual(pageErrors.map(String), [], "uncaught errors in the page");
});
