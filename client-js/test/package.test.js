// The npm package as a user installs it: what `npm pack` puts in the tarball, and the
// package.json fields a registry, a bundler and a licence scanner read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

test("npm pack ships the bundle, types, README, LICENSE and the bundled packages' notices, and nothing else", () => {
  // --ignore-scripts would skip prepack, which copies the root LICENSE in: run it as
  // `npm publish` would.
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--loglevel=error"], { cwd: root, encoding: "utf8" });
  const files = JSON.parse(out)[0].files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    "LICENSE",
    "README.md",
    "THIRD_PARTY_NOTICES",
    "dist/pushpoll.js",
    "dist/pushpoll.js.map",
    "dist/pushpoll.mjs",
    "package.json",
    "pushpoll.d.ts",
  ]);
  assert.equal(readFileSync(join(root, "LICENSE"), "utf8"), readFileSync(join(root, "..", "LICENSE"), "utf8"));
  assert.match(readFileSync(join(root, "THIRD_PARTY_NOTICES"), "utf8"), /^== socket\.io-client@4\.8\.4 \(MIT\)$/m);
});

test("package.json is publishable and installs nothing else", () => {
  assert.equal(pkg.private, undefined, "a private package cannot be published");
  assert.equal(pkg.name, "pushpoll-client");
  assert.match(pkg.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  assert.equal(pkg.license, "Apache-2.0");
  // The bundle carries socket.io-client; a runtime dependency would install packages the page never loads.
  assert.deepEqual(pkg.dependencies ?? {}, {});
  assert.deepEqual(pkg.peerDependencies ?? {}, {});
  assert.equal(pkg.type, "module");
  assert.equal(pkg.sideEffects, false);
  assert.equal(pkg.exports["."].default, "./dist/pushpoll.mjs");
  assert.equal(pkg.exports["."].types, "./pushpoll.d.ts");
  assert.equal(pkg.exports["./pushpoll.js"], "./dist/pushpoll.js");
  assert.equal(pkg.browser, "./dist/pushpoll.mjs");
  for (const field of ["repository", "homepage", "bugs", "description"]) assert.ok(pkg[field], `${field} is missing`);
});

test("the notifier, the npm package and the release agree on the version", () => {
  const goVersion = readFileSync(join(root, "..", "internal", "version", "version.go"), "utf8").match(/const Default = "([^"]+)"/);
  assert.ok(goVersion, "internal/version has no Default");
  assert.equal(pkg.version, goVersion[1]);
});

test("the ES module bundle imports nothing", () => {
  // A bare import left in dist/ would need a dependency at install time.
  const code = readFileSync(join(root, "dist", "pushpoll.mjs"), "utf8");
  assert.doesNotMatch(code, /\bimport\s*[\w{*]|\bimport\s*\(|\brequire\(/);
});
