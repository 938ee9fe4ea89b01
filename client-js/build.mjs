// Builds dist/ from src/pushpoll.js. The options live in one exported function so the
// test that checks the committed dist/ against a fresh build uses exactly these.
import { build } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// socket.io-client 2 logs through `debug`, which reads localStorage as soon as the bundle
// loads and weighs about 5 KB. The shim reports through onError instead, so `debug` is
// replaced by a logger that does nothing.
const quietDebug = {
  name: "quiet-debug",
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, () => ({ path: "debug", namespace: "quiet-debug" }));
    b.onLoad({ filter: /.*/, namespace: "quiet-debug" }, () => ({
      contents: "module.exports = function () { return function () {}; };",
      loader: "js",
    }));
  },
};

export function buildOptions() {
  const common = {
    absWorkingDir: here,
    entryPoints: ["src/pushpoll.js"],
    bundle: true,
    minify: true,
    platform: "browser",
    // The source uses nothing newer than ES2017; saying so keeps esbuild from emitting
    // syntax that older browsers socket.io-client 2 still supports would reject.
    target: ["es2017"],
    plugins: [quietDebug],
    // Keep the license notices of the bundled packages, but at the end and not inline.
    legalComments: "eof",
    write: false,
    logLevel: "warning",
  };
  return [
    // The script tag build served by the notifier at /pushpoll.js, with a source map
    // that carries its sources so a browser can show them without node_modules.
    { ...common, format: "iife", globalName: "PushPoll", outfile: "dist/pushpoll.js", sourcemap: true },
    // For bundlers; they map and minify on their own, so no map here.
    { ...common, format: "esm", outfile: "dist/pushpoll.mjs" },
  ];
}

// Returns [{path relative to this folder, contents}] without touching the disk.
export async function buildFiles() {
  const files = [];
  for (const opts of buildOptions()) {
    const res = await build(opts);
    for (const f of res.outputFiles) files.push({ path: f.path.slice(here.length + 1), contents: f.contents });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of await buildFiles()) {
    mkdirSync(join(here, dirname(f.path)), { recursive: true });
    writeFileSync(join(here, f.path), f.contents);
    console.log(f.path, f.contents.length, "bytes");
  }
}
