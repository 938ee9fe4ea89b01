// The live demo (`notifier --demo`) in real Chromium: two tabs on the demo page, a Bump in
// one, and the hint landing in the other. With PUSHPOLL_DEMO_SCREENSHOT=file.png the second
// tab is saved there after the hint, for the README.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { Notifier, buildNotifier, launchChromium, sleep } from "./harness.mjs";

let bin, notifier, browser;
let hasDemo = false;

before(async () => {
  bin = await buildNotifier();
  const help = await new Promise((resolve) => {
    execFile(bin, ["--help"], (_err, stdout, stderr) => resolve(stdout + stderr));
  });
  hasDemo = /--demo\b/.test(help);
});

after(async () => {
  if (browser) await browser.close();
  if (notifier) await notifier.stop();
});

test("demo page: a bump in one tab lands as a hint in the other", async () => {
  assert.ok(hasDemo, "notifier --help does not list --demo");
  notifier = await Notifier.start({ bin, fast: "5s", slow: "60s", args: ["--demo"] });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  const pageErrors = [];
  const open = async () => {
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
    await page.goto(notifier.url + "/");
    await page.waitForFunction(() => document.querySelector("#mode")?.textContent.trim() === "push", null, { timeout: 15000 });
    return page;
  };
  const watcher = await open();
  const bumper = await open();

  const hintsBefore = Number(await watcher.textContent("#hints"));
  const buttons = bumper.locator("button[data-card]");
  assert.ok((await buttons.count()) > 0, "the demo board has no Bump buttons");
  const t0 = Date.now();
  await buttons.nth(0).click();
  await watcher.waitForFunction((n) => Number(document.querySelector("#hints").textContent) > n, hintsBefore, { timeout: 5000, polling: 20 });
  const hintMs = Date.now() - t0;
  // A second and third bump on other cards make the board and the event log less bare.
  for (const i of [1, 2]) {
    if ((await buttons.count()) > i) {
      await sleep(400);
      await buttons.nth(i).click();
    }
  }
  await watcher.waitForFunction(() => /\d/.test(document.querySelector("#staleness").textContent), null, { timeout: 5000 });
  await sleep(1500); // the hinted poll (after up to `jitter`) and its render
  const hints = await watcher.textContent("#hints");
  const polls = await watcher.textContent("#polls");
  const staleness = await watcher.textContent("#staleness");
  console.log(`  e2e: demo: click→hint in the other tab ${hintMs} ms; that tab: hints ${hints}, polls ${polls}, last staleness ${staleness} ms`);
  assert.equal((await watcher.textContent("#mode")).trim(), "push");

  const out = process.env.PUSHPOLL_DEMO_SCREENSHOT;
  if (out) {
    await watcher.bringToFront();
    await watcher.screenshot({ path: out, fullPage: true });
    console.log(`  e2e: demo screenshot saved to ${out}`);
  }
  await context.close();
  assert.deepEqual(pageErrors.map(String), [], "uncaught errors in the demo page");
});
