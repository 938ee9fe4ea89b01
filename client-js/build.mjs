// Builds dist/ from src/pushpoll.js. The options live in one exported function so the
// test that checks the committed dist/ against a fresh build uses exactly these.
import { build } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// The browser build leaves out what the shim never uses from socket.io-client 4 (each step
// measured in the README): a file of slim/ stands in for an import made from the named
// place. Node (the unit tests, the simulators, the storm test) imports the packages as
// published. [import, made from, stand-in]
const STAND_INS = [
  // The package index re-exports every transport, and so keeps them all in the bundle.
  ["socket.io-client", "/src/", "socket.io-client.js"],
  ["engine.io-client", "/node_modules/socket.io-client/", "engine.io-client.js"],
  // Websocket and fetch long-polling; not WebTransport nor XHR.
  ["./transports/index.js", "/node_modules/engine.io-client/", "transports.js"],
  // Text packets only: the notifier sends no binary ones, the shim none either.
  ["socket.io-parser", "/node_modules/socket.io-client/", "socket.io-parser.js"],
  ["engine.io-parser", "/node_modules/engine.io-client/", "engine.io-parser.js"],
];

const slim = {
  name: "slim",
  setup(b) {
    for (const [name, from, file] of STAND_INS) {
      const filter = new RegExp("^" + name.replace(/[.]/g, "\\.") + "$");
      // A package's files by their path (node_modules may be a link), src/ by ours.
      const madeFrom = (importer) => (from.startsWith("/node_modules/") ? importer.includes(from) : importer.startsWith(here + from));
      b.onResolve({ filter }, (args) => (madeFrom(args.importer) ? { path: join(here, "slim", file) } : undefined));
    }
    // slim/ reaches into the packages past their exports maps, for the modules it needs.
    b.onResolve({ filter: /^(engine|socket)\.io-client\/build\// }, (args) => ({ path: join(here, "node_modules", args.path) }));
  },
};

export function buildOptions() {
  const common = {
    absWorkingDir: here,
    entryPoints: ["src/pushpoll.js"],
    bundle: true,
    minify: true,
    platform: "browser",
    // The source uses nothing newer than ES2017, and neither does socket.io-client 4's
    // build; saying so keeps esbuild from emitting syntax older browsers would reject.
    target: ["es2017"],
    plugins: [slim],
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
