// Several nodes behind real load balancers with no session affinity: three notifiers on one
// redis-server behind nginx and behind HAProxy, each running its configuration from deploy/.
// Pages load /pushpoll.js from the balancer and start the shim with the README's options,
// nothing about transports. Measured figures are printed for the README.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startHAProxy, startNginx } from "./balancers.mjs";
import { Notifier, buildNotifier, launchChromium, mintToken, publish, sleep, startApp, startRedis, waitFor } from "./harness.mjs";

const FAST = 1000;
const SLOW = 30000;
const JITTER = 300;
// The drain window a node gets on SIGTERM; it tells clients to move within 2/3 of it.
const DRAIN = 3000;
const PAGES = 3;

let redis, app, browser;
const nodes = [];
let seq = 0;

before(async () => {
  const bin = await buildNotifier();
  redis = await startRedis();
  app = await startApp();
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await Notifier.start({
        bin,
        redisUrl: redis.url,
        origins: [app.origin],
        fast: `${FAST}ms`,
        slow: `${SLOW}ms`,
        args: ["--drain-timeout", `${DRAIN}ms`],
      }),
    );
  }
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  for (const n of nodes) await n.stop();
  if (app) await app.stop();
  if (redis) await redis.stop();
});

const report = (...args) => console.log("  e2e:", ...args);

// Sum of a metric over the nodes that are running.
async function total(name) {
  let sum = 0;
  for (const n of nodes) if (n.running) sum += (await n.metric(name)) || 0;
  return sum;
}

const forwarded = () => total('pushpoll_forwarded_requests_total{result="ok"}');

// A page in its own browser context (no shared cache, connections or localStorage) running
// the shim against url with the README's options.
async function openPage(url, topic) {
  const id = `lb-${++seq}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  // websockets: opened by the page; open: those that received a frame (the balancer let
  // them through); polls: long-polling requests.
  const net = { websockets: 0, open: 0, polls: 0 };
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("websocket", (ws) => {
    net.websockets++;
    ws.once("framereceived", () => net.open++);
  });
  page.on("request", (req) => {
    if (req.url().includes("/socket.io/") && req.url().includes("transport=polling")) net.polls++;
  });
  await page.goto(app.origin + "/");
  const startedAt = Date.now();
  await page.evaluate(
    (o) => window.startShim(o),
    { page: id, url, token: mintToken({ topics: [topic] }), topics: { [topic]: app.versions.get(topic) || 0 }, fast: FAST, slow: SLOW, jitter: JITTER },
  );
  return {
    id,
    net,
    startedAt,
    state: () => page.evaluate(() => window.e2e),
    mode: () => page.evaluate(() => window.e2e.pp.mode),
    async waitMode(mode, timeout = 15000) {
      await page.waitForFunction((m) => window.e2e.pp.mode === m, mode, { timeout, polling: 20 });
    },
    // Stops the shim: its socket says goodbye, on either transport.
    stop: () => page.evaluate(() => window.e2e.pp.stop()),
    async close() {
      await context.close();
      assert.deepEqual(pageErrors, [], `uncaught errors in page ${id}`);
    },
  };
}

// Opens PAGES pages on one topic and waits until all are in push; returns them and the
// time each took to get there.
async function openInPush(url, topic) {
  app.versions.set(topic, 1);
  const pages = await Promise.all(Array.from({ length: PAGES }, () => openPage(url, topic)));
  const toPush = await Promise.all(
    pages.map(async (p) => {
      await p.waitMode("push");
      return Date.now() - p.startedAt;
    }),
  );
  return { pages, toPush };
}

// Publishes as the app would, through a node that is not shutting down.
async function bump(topic, v, avoid) {
  app.versions.set(topic, v);
  const at = Date.now();
  await publish(nodes.find((n) => n.running && n !== avoid).url, { topic, v });
  return at;
}

// Wall-clock delay from publishing topic=v to each page's hint for it.
async function hintDelays(pages, topic, v, since, timeout = 10000) {
  return Promise.all(
    pages.map(async (p) => {
      const h = await waitFor(async () => (await p.state()).hints.find((x) => x.topic === topic && x.v >= v), {
        timeout,
        what: `page ${p.id} hinted ${topic}=${v}`,
      });
      return h.wall - since;
    }),
  );
}

// Runs a scenario on PAGES fresh pages in push, one socket each, and closes them whatever
// happens, waiting until their sockets are gone from every node.
async function withPages(url, topic, scenario) {
  const { pages, toPush } = await openInPush(url, topic);
  try {
    await waitFor(async () => (await total("pushpoll_sockets")) === PAGES, { what: `${PAGES} sockets across the nodes` });
    await scenario(pages, toPush);
  } finally {
    await Promise.all(pages.map((p) => p.stop().catch(() => {})));
    await waitFor(async () => (await total("pushpoll_sockets")) === 0, { timeout: 10000, what: "every socket gone" });
    for (const p of pages) await p.close();
  }
}

// The node holding the most of the sockets, and how many it holds.
async function busiest() {
  const counts = await Promise.all(nodes.map((n) => n.metric("pushpoll_sockets")));
  const most = Math.max(...counts);
  return [nodes[counts.indexOf(most)], most];
}

// Runs scenario(victim) on the busiest node, and restarts it afterwards.
async function withVictim(scenario) {
  const [victim, sockets] = await busiest();
  try {
    await scenario(victim, sockets);
  } finally {
    if (!victim.running) await victim.start();
  }
}

for (const [name, start] of [
  ["nginx", startNginx],
  ["haproxy", startHAProxy],
]) {
  describe(`behind ${name}`, () => {
    let lb;
    before(async () => {
      lb = await start(nodes);
      app.setNotifier(lb.url);
    });
    after(async () => {
      if (lb) await lb.stop();
    });

    test("shim defaults: every page in push, one bump one poll each, one socket per page", async () => {
      const topic = `lb:${name}:defaults`;
      await withPages(lb.url, topic, async (pages, toPush) => {
        const t0 = await bump(topic, 2);
        const delays = await hintDelays(pages, topic, 2, t0);
        await sleep(JITTER + 700);
        for (const p of pages) {
          assert.equal(app.pollsSince(p.id, t0).length, 1, `page ${p.id}: one bump, one poll`);
          assert.equal(p.net.open, 1, `page ${p.id}: one websocket`);
          assert.equal(p.net.polls, 0, `page ${p.id}: no long-polling when websocket works`);
        }
        assert.equal(await total("pushpoll_sockets"), PAGES, "one socket per page");
        report(`[${name}] defaults: to push ${toPush.join("/")} ms, hint ${delays.join("/")} ms`);
      });
    });

    test("websocket refused at the balancer: pages fall back to long-polling and get hints", async () => {
      const topic = `lb:${name}:blocked`;
      const before = await forwarded();
      await withPages(lb.blockedUrl, topic, async (pages, toPush) => {
        const t0 = await bump(topic, 2);
        const delays = await hintDelays(pages, topic, 2, t0);
        await sleep(JITTER + 700);
        for (const p of pages) {
          assert.ok(p.net.websockets > 0 && p.net.open === 0, `page ${p.id}: ${p.net.open} of ${p.net.websockets} websockets got through`);
          assert.ok(p.net.polls > 0, `page ${p.id}: never long-polled`);
          assert.equal(app.pollsSince(p.id, t0).length, 1, `page ${p.id}: one bump, one poll`);
        }
        const fwd = (await forwarded()) - before;
        assert.ok(fwd > 0, "no polling request was forwarded: the balancer kept affinity after all");
        assert.equal(await total("pushpoll_sockets"), PAGES, "one socket per page");
        report(`[${name}] websocket refused: to push ${toPush.join("/")} ms, hint ${delays.join("/")} ms, ${fwd} polls forwarded`);
      });
    });

    test("a node SIGKILLed: its pages poll at once, then push on the others", async () => {
      const topic = `lb:${name}:kill`;
      await withPages(lb.url, topic, (pages) =>
        withVictim(async (victim, onVictim) => {
          const seen = await Promise.all(pages.map(async (p) => (await p.state()).modes.length));
          const leftPush = async (p, i) => (await p.state()).modes.slice(seen[i]).some((m) => m.mode === "poll");
          const t0 = Date.now();
          await victim.kill();
          // Its pages, and only they, leave push at once: their sockets close, so they do not
          // wait for the heartbeat (35 s of silence). 5 s leaves room for a loaded machine.
          await waitFor(async () => (await Promise.all(pages.map(leftPush))).filter(Boolean).length === onVictim, {
            timeout: 5000,
            what: `the ${onVictim} page(s) on the killed node in poll mode`,
          });
          const toPoll = Date.now() - t0;
          await Promise.all(pages.map((p) => p.waitMode("push", 10000)));
          const backInPush = Date.now() - t0;
          const t1 = await bump(topic, 2);
          await hintDelays(pages, topic, 2, t1);
          assert.equal(await total("pushpoll_sockets"), PAGES, "one socket per page on the survivors");
          report(`[${name}] SIGKILL: ${onVictim} page(s) in poll within ${toPoll} ms, all back in push after ${backInPush} ms`);
        }),
      );
    });

    test("a node SIGTERMed: every page moves, no bump lost", async () => {
      const topic = `lb:${name}:drain`;
      await withPages(lb.url, topic, (pages) =>
        withVictim(async (victim, onVictim) => {
          const t0 = Date.now();
          const exited = victim.terminate();
          // Bumps all through the drain window, published through the other nodes.
          let v = 1;
          while (Date.now() - t0 < DRAIN) {
            await bump(topic, ++v, victim);
            await sleep(250);
          }
          assert.equal((await exited).code, 0, "the drained node exits 0");
          await Promise.all(pages.map((p) => p.waitMode("push", 10000)));
          // Every page, moved or not, learned the last version by a hint.
          await hintDelays(pages, topic, v, t0);
          assert.equal(await total("pushpoll_sockets"), PAGES, "one socket per page on the others");
          report(`[${name}] SIGTERM: ${onVictim} page(s) moved, ${v - 1} bumps during the drain, node gone after ${Date.now() - t0} ms`);
        }),
      );
    });
  });
}
