// Sockets per browser: N tabs of one Chromium profile (one browser context) running the
// shim against a real notifier and redis-server, with tab sharing on (the default) and off,
// counted at the node (pushpoll_sockets, pushpoll_tabs). Then, with sharing on, the holder
// tab is closed again and again and the hand-over is timed: from the close to every
// remaining tab holding a hint of a bump published right after it.
//
//   node scripts/bench/efficacy/tabs.mjs [--tabs 1,2,5,10] [--handovers 5]
//
// Prints a Markdown table and one JSON line per tab count.
import { parseArgs } from "node:util";
import {
  Notifier,
  buildNotifier,
  launchChromium,
  mintToken,
  publish,
  startApp,
  startRedis,
  waitFor,
} from "../../../client-js/e2e/harness.mjs";

const { values: a } = parseArgs({
  options: {
    tabs: { type: "string", default: "1,2,5,10" },
    handovers: { type: "string", default: "5" },
  },
});
const counts = a.tabs.split(",").map(Number);
const handovers = Number(a.handovers);
if (counts.some((n) => !(n >= 1)) || !(handovers >= 0)) throw new Error("--tabs wants counts ≥ 1, --handovers a number ≥ 0");

const redis = await startRedis();
const app = await startApp();
const notifier = await Notifier.start({ bin: await buildNotifier(), redisUrl: redis.url, origins: [app.origin], fast: "5s", slow: "60s" });
app.setNotifier(notifier.url);
const browser = await launchChromium();
const topic = "bench:tabs";
let v = 1;
app.versions.set(topic, v);

const metric = async (name) => notifier.metric(name);

async function open(context, share) {
  const page = await context.newPage();
  await page.goto(app.origin + "/");
  await page.evaluate((o) => window.startShim(o), {
    page: "bench",
    url: notifier.url,
    token: mintToken({ topics: [topic] }),
    topics: { [topic]: v },
    // A fast of 1 s makes the hinted-poll throttle 1 s, so that each round below starts
    // with every tab holding the last version.
    fast: 1000,
    share,
  });
  await page.waitForFunction(() => window.e2e.pp.mode === "push", null, { timeout: 30000, polling: 50 });
  return page;
}

// Opens n tabs in a fresh context and returns the node's counts with them open.
async function measure(n, share) {
  const context = await browser.newContext();
  const pages = await Promise.all(Array.from({ length: n }, () => open(context, share)));
  await waitFor(async () => (await metric("pushpoll_tabs")) === n, { timeout: 10000, what: `${n} tabs at the node` });
  const sockets = await metric("pushpoll_sockets");
  return { context, pages, sockets };
}

async function handover(pages) {
  const roles = await Promise.all(pages.map((p) => p.evaluate(() => window.e2e.pp.shared)));
  const [gone] = pages.splice(roles.indexOf("holder"), 1);
  const t0 = Date.now();
  await gone.close();
  v++;
  app.versions.set(topic, v);
  await publish(notifier.url, { topic, v });
  const want = v;
  const hinted = await Promise.all(
    pages.map((p) =>
      p
        .waitForFunction((w) => window.e2e.hints.some((h) => h.v === w), want, { timeout: 30000, polling: 10 })
        .then(() => p.evaluate((w) => window.e2e.hints.find((h) => h.v === w).wall, want)),
    ),
  );
  // Each tab's hinted poll fetches the version before the next round begins.
  await Promise.all(pages.map((p) => p.waitForFunction((w) => window.e2e.polls.some((x) => Object.values(x.got).includes(w)), want, { timeout: 30000, polling: 20 })));
  return Math.max(...hinted) - t0;
}

const rows = [];
for (const n of counts) {
  const off = await measure(n, false);
  await off.context.close();
  await waitFor(async () => (await metric("pushpoll_sockets")) === 0, { timeout: 10000, what: "no socket left" });
  const on = await measure(n, true);
  const times = [];
  for (let i = 0; i < Math.min(handovers, n - 1); i++) times.push(await handover(on.pages));
  await on.context.close();
  await waitFor(async () => (await metric("pushpoll_sockets")) === 0, { timeout: 10000, what: "no socket left" });
  times.sort((x, y) => x - y);
  const row = { type: "tabs", tabs: n, socketsShared: on.sockets, socketsAlone: off.sockets, handoverMs: times };
  console.log(JSON.stringify(row));
  rows.push(row);
}

console.log("\n| tabs in one browser | sockets, sharing off | sockets, sharing on | hand-over after closing the holder (ms, sorted) |");
console.log("|---|---|---|---|");
for (const r of rows) console.log(`| ${r.tabs} | ${r.socketsAlone} | ${r.socketsShared} | ${r.handoverMs.join(", ") || "—"} |`);

await browser.close();
await notifier.stop();
await app.stop();
await redis.stop();
