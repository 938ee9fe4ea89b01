// The app owns its polling (issue #18 item 5): the page loads the shim from the app's own
// assets, so a notifier that is refused, unresolvable, accepting but silent, or answering
// 502/503 behind nginx or HAProxy costs the page nothing. It polls as plain polling does from
// its first second, and reaches push once the notifier is back. Beside them, a page with the README's guarded
// snippet, which loads the script from the broken notifier, polls as plain polling too.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startHAProxy, startNginx } from "./balancers.mjs";
import {
  CHROMIUM_ARGS,
  Notifier,
  buildNotifier,
  freePort,
  mintToken,
  pageHtml,
  publish,
  report,
  startApp,
  waitFor,
} from "./harness.mjs";

const FAST = 2000;
const SLOW = 30000;
// Polls watched per page: 6 × FAST of plain polling.
const POLLS = 6;
// A timer on a loaded 2-core machine can fire this late; anything later is the shim waiting
// on the network.
const LATE = 1500;
// How long a page may take to reach push once its notifier is back: socket.io's reconnect
// backoff (capped at 30 s by the shim) after being down for the whole window.
const BACK = 60000;
const UNRESOLVABLE = "push.unresolvable.invalid";

// The README's guarded snippet, with the script from `src`: the page polls as it always
// did, and hands its poll to the shim only once the script has loaded.
function guardedHtml(_notifierUrl, u) {
  const q = (k) => JSON.stringify(u.searchParams.get(k));
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>guarded</title>
<script>
  function poll() { return fetch("/poll?page=" + encodeURIComponent(${q("page")}) + "&topics=" + ${q("topic")}).then((r) => r.json()); }
  var plain = setInterval(poll, ${FAST});
  function upgrade() {
    if (!window.PushPoll || plain === null) return;
    clearInterval(plain);
    plain = null;
    window.pp = PushPoll.start({ url: ${q("url")}, token: ${q("token")}, topics: { [${q("topic")}]: 1 }, poll: poll, fast: ${FAST} });
  }
</script>
<script src=${q("src")} async onload="upgrade()"></script>
</head><body>guarded</body></html>`;
}

let app, browser, bin;
const cleanups = [];

before(async () => {
  bin = await buildNotifier();
  app = await startApp({
    pages: {
      "/own": (n) => pageHtml(n, "/assets"),
      "/guarded": guardedHtml,
    },
  });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    // A name that never resolves, answered at once and the same way on every machine.
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${UNRESOLVABLE} ~NOTFOUND`],
  });
});

after(async () => {
  if (browser) await browser.close();
  for (const c of cleanups.reverse()) await c();
  if (app) await app.stop();
});

// A TCP server that accepts every connection and never says a word: a hung node, or a
// balancer whose backend holds requests.
async function startSilent(port) {
  const sockets = new Set();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", resolve);
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

let seq = 0;

// Opens the two pages of a scenario at the same moment, each in its own context (no shared
// socket, cache or storage): the shim from the app's assets against notifierUrl, and the
// guarded snippet loading the script from scriptUrl.
async function openPages(topic, notifierUrl, scriptUrl) {
  const id = `unreachable-${++seq}`;
  const token = mintToken({ topics: [topic] });
  const open = async (path) => {
    const context = await browser.newContext();
    cleanups.push(() => context.close());
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (err) => errors.push(String(err)));
    // A script that never arrives must not hold the page's load: wait for the DOM only.
    await page.goto(app.origin + path, { waitUntil: "domcontentloaded" });
    return { page, errors, openedAt: Date.now() };
  };
  const q = (o) => new URLSearchParams(o).toString();
  const [own, guarded] = await Promise.all([open("/own"), open("/guarded?" + q({ page: `${id}-guarded`, topic, url: notifierUrl, token, src: scriptUrl + "/pushpoll.js" }))]);
  await own.page.evaluate((o) => window.startShim(o), { page: `${id}-own`, url: notifierUrl, token, topics: { [topic]: 1 }, fast: FAST, slow: SLOW });
  guarded.polls = () => app.polls(`${id}-guarded`).map((p) => p.at - guarded.openedAt);
  return [own, guarded];
}

// The shim's page polls as plain polling does (DESIGN §9's chained setTimeout, which never
// has two polls in flight): the first poll within FAST of the start, each next one FAST after
// the previous one settled, none sooner than FAST after the previous one began (no more polls
// than plain polling), and push never trusted. Times are the page's own clock.
async function checkShim(what, own) {
  const { modes, polls, errors } = await own.page.evaluate(() => window.e2e);
  const start = modes[0].at;
  const starts = polls.map((p) => Math.round(p.at - start));
  const waits = polls.slice(1).map((p, i) => Math.round(p.at - polls[i].done));
  const spacing = polls.slice(1).map((p, i) => Math.round(p.at - polls[i].at));
  report(`${what}: polls began at ${starts.join(" ")} ms; each waited ${waits.join(" ")} ms after the last settled; modes ${modes.map((m) => m.mode).join(" ")}`);
  assert.ok(starts[0] <= FAST + LATE, `${what}: first poll at ${starts[0]} ms, plain polling's comes at ${FAST}`);
  for (const w of waits) assert.ok(w <= FAST + LATE, `${what}: a poll waited ${w} ms after the previous one settled (plain polling: ${FAST})`);
  for (const g of spacing) assert.ok(g >= FAST - 50, `${what}: two polls began ${g} ms apart, sooner than plain polling's ${FAST}`);
  assert.ok(!modes.some((m) => m.mode === "push"), `${what}: push trusted with the notifier down: ${modes.map((m) => m.mode)}`);
  assert.deepEqual(errors.filter((e) => /uncaught/i.test(e)), []);
  assert.deepEqual(own.errors, [], `${what}: uncaught errors`);
}

// The guarded page never got the shim and polls on its own interval, from its first second.
async function checkGuarded(what, guarded) {
  const got = guarded.polls().filter((at) => at <= POLLS * FAST + LATE);
  report(`${what}: ${got.length} polls in ${POLLS * FAST + LATE} ms, at ${got.join(" ")} ms`);
  assert.equal(await guarded.page.evaluate(() => typeof window.PushPoll), "undefined", `${what}: the script loaded`);
  assert.ok(got[0] <= FAST + LATE, `${what}: first poll at ${got[0]} ms`);
  assert.ok(got.length >= POLLS - 1, `${what}: ${got.length} polls where plain polling makes ${POLLS}`);
  assert.deepEqual(guarded.errors, [], `${what}: uncaught errors`);
}

// Runs one way of being unreachable: pages open while the notifier is down and poll as plain
// polling; the shim's page reaches push and takes a hint once bringBack() has run.
async function scenario(t, { notifierUrl, scriptUrl = notifierUrl, bringBack, publishUrl }) {
  const topic = `board:${t.name.replace(/[^a-z0-9]+/gi, "-")}`;
  app.versions.set(topic, 1);
  const [own, guarded] = await openPages(topic, notifierUrl, scriptUrl);
  await waitFor(async () => (await own.page.evaluate(() => window.e2e.polls.length)) >= POLLS, {
    timeout: POLLS * (FAST + LATE) * 2,
    what: `${POLLS} polls of the shim's page`,
  });
  await waitFor(() => Date.now() > guarded.openedAt + POLLS * FAST + LATE, { timeout: POLLS * FAST * 2, what: "the guarded page's window" });
  await checkShim(`${t.name}, shim from the app's assets`, own);
  await checkGuarded(`${t.name}, guarded snippet`, guarded);
  if (!bringBack) return;

  const backAt = Date.now();
  await bringBack();
  await own.page.waitForFunction(() => window.e2e.pp.mode === "push", null, { timeout: BACK, polling: 50 });
  const inPush = Date.now() - backAt;
  // Push, for real: a bump reaches the page as a hint.
  app.versions.set(topic, 2);
  await publish(publishUrl, { topic, v: 2 });
  await waitFor(async () => (await own.page.evaluate(() => window.e2e.hints)).some((h) => h.v >= 2), {
    timeout: 15000,
    what: "a hint after the notifier came back",
  });
  report(`${t.name}: push ${inPush} ms after the notifier came back`);
}

// Scenarios run side by side: each waits mostly on timers.
describe("a notifier that cannot be reached costs the page nothing", { concurrency: true }, () => {
  test("refused", async (t) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let node;
    cleanups.push(() => node?.stop());
    await scenario(t, {
      notifierUrl: url,
      publishUrl: url,
      bringBack: async () => {
        node = await Notifier.start({ bin, port, origins: [app.origin], fast: `${FAST}ms`, slow: `${SLOW}ms` });
      },
    });
  });

  // No way to make a name resolve later inside one browser, so this one only checks the
  // polling.
  test("unresolvable", async (t) => {
    await scenario(t, { notifierUrl: `http://${UNRESOLVABLE}:8080` });
  });

  test("accepting but silent", async (t) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const silent = await startSilent(port);
    let node;
    cleanups.push(async () => {
      await silent.stop();
      await node?.stop();
    });
    await scenario(t, {
      notifierUrl: url,
      publishUrl: url,
      bringBack: async () => {
        await silent.stop();
        node = await Notifier.start({ bin, port, origins: [app.origin], fast: `${FAST}ms`, slow: `${SLOW}ms` });
      },
    });
  });

  for (const [name, start, status] of [
    ["502 from nginx", startNginx, 502],
    ["503 from HAProxy", startHAProxy, 503],
  ]) {
    test(name, async (t) => {
      const nodes = [{ port: await freePort() }, { port: await freePort() }, { port: await freePort() }];
      const lb = await start(nodes, { healthy: false });
      let node;
      cleanups.push(async () => {
        await node?.stop();
        await lb.stop();
      });
      const res = await fetch(lb.url + "/pushpoll.js");
      await res.arrayBuffer();
      assert.equal(res.status, status, `the balancer answers ${res.status} with every node down`);
      await scenario(t, {
        notifierUrl: lb.url,
        publishUrl: `http://127.0.0.1:${nodes[0].port}`,
        bringBack: async () => {
          node = await Notifier.start({ bin, port: nodes[0].port, origins: [app.origin], fast: `${FAST}ms`, slow: `${SLOW}ms` });
        },
      });
    });
  }
});
