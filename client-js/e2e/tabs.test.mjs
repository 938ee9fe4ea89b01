// Tabs of one browser share one socket: several pages in one Chromium context against the
// real notifier and a real redis-server. Pages of one context share BroadcastChannel and
// Web Locks as the tabs of one profile do; another context is another profile.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mintToken, publish, report, startStack, waitFor } from "./harness.mjs";

const FAST = 1000;
// Long enough that no safety-net poll falls inside a scenario: every poll counted is hinted.
const SLOW = 120000;
const JITTER = 200;

let stack, app, notifier, browser;
let seq = 0;

before(async () => {
  stack = await startStack({ fast: `${FAST}ms`, slow: `${SLOW}ms` });
  ({ app, notifier, browser } = stack);
});

after(() => stack && stack.stop());

// Every scenario starts from a node with no socket, so the counts below are its own.
async function nodeCounts() {
  return { sockets: await notifier.metric("pushpoll_sockets"), tabs: await notifier.metric("pushpoll_tabs") };
}

async function waitCounts(sockets, tabs, what) {
  let got;
  try {
    await waitFor(async () => {
      got = await nodeCounts();
      return got.sockets === sockets && got.tabs === tabs;
    }, { timeout: 10000, what });
  } catch (err) {
    throw new Error(`${err.message}: want ${sockets} sockets and ${tabs} tabs, have ${JSON.stringify(got)}`, { cause: err });
  }
}

// openTab opens a page in context and starts the shim on it. topics: topic -> version the
// page holds; granted: the topics its token names (default: all of them).
async function openTab(context, name, topics, { granted = Object.keys(topics), share } = {}) {
  const id = `tabs-${name}-${++seq}`;
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.goto(app.origin + "/");
  const opts = { page: id, url: notifier.url, token: mintToken({ topics: granted }), topics, fast: FAST, slow: SLOW, jitter: JITTER };
  if (share !== undefined) opts.share = share;
  await page.evaluate((o) => window.startShim(o), opts);
  return {
    id,
    page,
    errors,
    state: () => page.evaluate(() => ({ ...window.e2e, pp: undefined, shared: window.e2e.pp.shared, mode: window.e2e.pp.mode })),
    shared: () => page.evaluate(() => window.e2e.pp.shared),
    waitMode: (mode) => page.waitForFunction((m) => window.e2e.pp.mode === m, mode, { timeout: 10000, polling: 20 }),
    polls: () => app.polls(id).length,
    close: () => page.close(),
  };
}

async function bump(topic, v) {
  app.versions.set(topic, v);
  await publish(notifier.url, { topic, v });
}

// Waits until each tab made at least want[i] polls since `base` (counts before); returns
// the counts made. A tab that polled more shows up in the assertion that follows: once in
// push, every poll is hinted (SLOW is out of the scenario's reach).
async function waitPolls(tabs, base, want, what) {
  const made = () => tabs.map((t, i) => t.polls() - base[i]);
  try {
    await waitFor(() => made().every((n, i) => n >= want[i]), { timeout: 5000, every: 20, what });
  } catch (err) {
    const states = await Promise.all(tabs.map((t) => t.state().catch((e) => String(e))));
    throw new Error(`${err.message}; polls ${JSON.stringify(made())}; tabs ${JSON.stringify(states)}`, { cause: err });
  }
  return made();
}

const counts = (tabs) => tabs.map((t) => t.polls());

test("five tabs, one socket: own topics poll one tab, a shared topic each tab once, hand-overs lose nothing; other contexts and share: false get their own", async (tc) => {
  await waitCounts(0, 0, "an idle node");
  const context = await browser.newContext();
  tc.after(() => context.close()); // also when the test fails half-way
  const shared = `tabs:shared:${seq}`;
  app.versions.set(shared, 1);
  const owns = [0, 1, 2, 3, 4].map((i) => `tabs:own:${seq}:${i}`);
  for (const own of owns) app.versions.set(own, 1);
  const tabs = await Promise.all(owns.map((own, i) => openTab(context, `five${i}`, { [own]: 1, [shared]: 1 })));
  for (const t of tabs) await t.waitMode("push");
  await waitCounts(1, 5, "five tabs behind one socket");
  const roles = await Promise.all(tabs.map((t) => t.shared()));
  assert.deepEqual(roles.slice().sort(), ["follower", "follower", "follower", "follower", "holder"]);
  report("5 tabs in one context:", JSON.stringify(await nodeCounts()));

  // One tab's own topic: only that tab polls. Then the shared topic: every tab once.
  // (Polls before push, at FAST while each tab connected, are not counted.)
  const base = counts(tabs);
  await bump(owns[2], 2);
  await waitPolls(tabs, base, [0, 0, 1, 0, 0], "the bumped tab's poll");
  await bump(shared, 2);
  const made = await waitPolls(tabs, base, [1, 1, 2, 1, 1], "one poll per tab for the shared topic");
  assert.deepEqual(made, [1, 1, 2, 1, 1]);

  // Lose the holder three times; a bump published right after each loss must reach
  // every remaining tab (caught up by the new holder's subscribes), with no tab leaving push.
  let v = 2;
  const handovers = [];
  // The holder goes away in each of the ways a tab can: closed, navigated away, crashed.
  const ends = [
    ["closed", (page) => page.close()],
    ["navigated", (page) => page.goto("about:blank")],
    // Page.crash never answers (the renderer it would answer from is gone): wait for the
    // page's crash event instead.
    [
      "crashed",
      async (page) => {
        const crashed = new Promise((resolve) => page.once("crash", resolve));
        (await page.context().newCDPSession(page)).send("Page.crash").catch(() => {});
        await crashed;
      },
    ],
  ];
  for (const [how, end] of ends) {
    const roles = await Promise.all(tabs.map((t) => t.shared()));
    const gone = tabs.splice(roles.indexOf("holder"), 1)[0];
    const before = counts(tabs);
    // Each page notes (wall clock) when it becomes the holder.
    for (const t of tabs) {
      await t.page.evaluate(() => {
        const watch = setInterval(() => {
          if (window.e2e.pp.shared !== "holder") return;
          window.e2e.holderSince = Date.now();
          clearInterval(watch);
        }, 5);
      });
    }
    const t0 = Date.now();
    await end(gone.page);
    v++;
    await bump(shared, v);
    const polled = await waitPolls(tabs, before, tabs.map(() => 1), `every remaining tab polls v${v} after the hand-over`);
    await waitCounts(1, tabs.length, "the new holder's socket, with the tab count");
    assert.deepEqual(polled, tabs.map(() => 1), "one poll per tab for the bump");
    const states = await Promise.all(tabs.map((t) => t.state()));
    const elected = Math.min(...states.map((st) => st.holderSince || Infinity));
    const hinted = Math.max(...states.map((st) => st.hints.find((h) => h.topic === shared && h.v === v).wall));
    handovers.push({ how, elect: elected - t0, hinted: hinted - t0 });
    for (const t of tabs) {
      const st = await t.state();
      assert.deepEqual(st.modes.filter((m) => m.mode !== "start").map((m) => m.mode), ["poll", "push"], `${t.id} left push: ${JSON.stringify(st.modes)}`);
      assert.equal(st.polls.at(-1).got[shared], v);
      assert.deepEqual(st.errors, []);
    }
  }
  report(
    "holder gone → new holder / → every tab hinted of the bump published right after:",
    handovers.map((h) => `${h.how} ${h.elect}/${h.hinted} ms`).join(", "),
  );
  // About a second is the goal; the bound leaves room for a loaded machine and still fails
  // a hand-over that waits for the heartbeat (35 s) or never catches the bump up.
  for (const h of handovers) assert.ok(h.hinted < 3000, `hand-over took ${h.hinted} ms`);
  for (const t of tabs) assert.deepEqual(t.errors.map(String), []);

  // Another context is another browser profile: its own socket. There, two more tabs
  // with sharing off get a socket each.
  const other = await browser.newContext();
  tc.after(() => other.close());
  const more = await Promise.all([
    openTab(other, "ctx2", { [shared]: v }),
    openTab(other, "alone1", { [shared]: v }, { share: false }),
    openTab(other, "alone2", { [shared]: v }, { share: false }),
  ]);
  for (const t of more) await t.waitMode("push");
  assert.deepEqual(await Promise.all(more.map((t) => t.shared())), ["holder", "alone", "alone"]);
  await waitCounts(4, 5, "a socket per context, and one per tab that does not share");
  report("2 tabs in one context, 1 in another, 2 with share: false:", JSON.stringify(await nodeCounts()));
  await context.close();
  await other.close();
  await waitCounts(0, 0, "the contexts' sockets closed with them");
});

test("a tab whose token lacks a topic is denied it; the other tab keeps it", async (tc) => {
  await waitCounts(0, 0, "an idle node");
  const context = await browser.newContext();
  tc.after(() => context.close()); // also when the test fails half-way
  const s = `tabs:deny:${seq}`;
  const mine = `tabs:deny:own:${seq}`;
  app.versions.set(s, 1);
  const [granted, denied] = await Promise.all([
    openTab(context, "deny-granted", { [s]: 1 }),
    openTab(context, "deny-denied", { [s]: 1, [mine]: 1 }, { granted: [mine] }),
  ]);
  await granted.waitMode("push");
  await waitFor(async () => (await denied.state()).errors.some((e) => e.includes(s) && e.includes("not in token")), { what: "the denial" });
  assert.equal((await denied.state()).mode, "poll", "a denied topic cannot be trusted to push");
  const base = counts([granted]);
  await bump(s, 2);
  await waitPolls([granted], base, [1], "the granted tab polls");
  const hinted = (await denied.state()).hints.filter((h) => h.topic === s);
  assert.deepEqual(hinted, [], "the denied tab got a hint for a topic its token lacks");
  await context.close();
});

// A holder that stops running but keeps its lock, as a tab the browser freezes does. CDP's
// Page.setWebLifecycleState "frozen" did not stop a page holding a Web Lock here (its beats
// went on), so the holder's main thread is kept busy instead: to the other tabs alike.
test("a holder that stops running (hung, lock and socket kept): the other tabs poll within seconds, and return to push when it runs again", async (tc) => {
  await waitCounts(0, 0, "an idle node");
  const context = await browser.newContext();
  tc.after(() => context.close()); // also when the test fails half-way
  const s = `tabs:freeze:${seq}`;
  app.versions.set(s, 1);
  const tabs = await Promise.all([0, 1, 2].map((i) => openTab(context, `freeze${i}`, { [s]: 1 })));
  for (const t of tabs) await t.waitMode("push");
  const roles = await Promise.all(tabs.map((t) => t.shared()));
  const holder = tabs[roles.indexOf("holder")];
  const followers = tabs.filter((t) => t !== holder);
  // A hung holder: its main thread busy for 15 s, its lock and socket kept.
  const hung = holder.page.evaluate(() => {
    const until = Date.now() + 15000;
    while (Date.now() < until);
  });
  const t0 = Date.now();
  // Each follower notes (wall clock) when its shim left push.
  const left = await Promise.all(
    followers.map((t) =>
      t.page
        .waitForFunction(() => window.e2e.pp.mode === "poll" && Date.now(), null, { timeout: 15000, polling: 50 })
        .then((h) => h.jsonValue()),
    ),
  );
  const after = left.map((at) => at - t0);
  const base = counts(followers);
  await waitPolls(followers, base, [2, 2], "followers poll at fast while the holder is hung");
  await hung;
  const t1 = Date.now();
  for (const t of followers) await t.waitMode("push");
  report(
    "holder hung → followers in poll after (ms):",
    after.join(", "),
    "; running again → push again after",
    Date.now() - t1,
    "ms",
  );
  // 6 s of silence (up to 7 s on a loaded machine's timers); the old code waited for the
  // shim's 35 s heartbeat.
  for (const ms of after) assert.ok(ms < 9000, `a follower trusted a hung holder for ${ms} ms`);
  await context.close();
});
