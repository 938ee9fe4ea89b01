// The built files: the script-tag bundle defines PushPoll without a network or a real
// browser, the ES module exports start, and dist/ is exactly what the build makes now.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { buildFiles } from "../build.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

test("dist/pushpoll.js defines PushPoll.start in a bare window", () => {
  const code = readFileSync(join(root, "dist/pushpoll.js"), "utf8");
  const timers = new Set();
  const win = {
    setTimeout: (fn, ms) => {
      const h = setTimeout(fn, ms);
      timers.add(h);
      return h;
    },
    clearTimeout: (h) => {
      timers.delete(h);
      clearTimeout(h);
    },
  };
  win.window = win;
  win.self = win;
  const ctx = vm.createContext(win);
  vm.runInContext(code, ctx, { filename: "pushpoll.js" });
  assert.equal(typeof ctx.PushPoll, "object");
  assert.equal(typeof ctx.PushPoll.start, "function");
  // Starting without a connection uses only timers, which stop() clears.
  const pp = ctx.PushPoll.start({ enabled: false, poll: async () => ({}), topics: { a: 1 } });
  assert.equal(pp.mode, "off");
  pp.stop();
  for (const h of timers) clearTimeout(h);
});

test("dist/pushpoll.mjs exports start and a default { start }", async () => {
  const mod = await import("../dist/pushpoll.mjs");
  assert.equal(typeof mod.start, "function");
  assert.equal(mod.default.start, mod.start);
});

test("the package's exports: the README's import form and the script-tag bundle", async () => {
  const viaReadme = await import("pushpoll-client/pushpoll.mjs");
  const viaRoot = await import("pushpoll-client");
  assert.equal(typeof viaReadme.start, "function");
  assert.equal(viaReadme, viaRoot, "one module, whichever name");
  assert.equal(fileURLToPath(import.meta.resolve("pushpoll-client/pushpoll.js")), join(root, "dist/pushpoll.js"));
});

test("dist/ matches a fresh build byte for byte", async () => {
  const files = await buildFiles();
  assert.deepEqual(
    files.map((f) => f.path),
    ["dist/pushpoll.js", "dist/pushpoll.js.map", "dist/pushpoll.mjs"],
  );
  for (const f of files) {
    const committed = readFileSync(join(root, f.path));
    assert.ok(Buffer.from(f.contents).equals(committed), f.path + " is stale: run npm run build");
  }
});
