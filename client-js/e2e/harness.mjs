// Shared pieces of the end-to-end tests: a real redis-server, the real notifier built from
// this repository, a small "app" that serves the test page and counts its polls, token
// minting and HTTP publishing. Every process started here is stopped by its test's after()
// hook, and, as a last resort, killed when the test process exits.
//
// PUSHPOLL_E2E_LOGS=1 copies the notifier's and redis-server's output to stderr.
// PUSHPOLL_NOTIFIER_BIN=/path/to/notifier uses that binary instead of building one.
// CHROMIUM_PATH overrides /usr/bin/chromium.
import { execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, "..", "..");
const verbose = process.env.PUSHPOLL_E2E_LOGS === "1";

// Secrets the notifier is started with; long enough for its checks (32 and 16 characters).
export const TOKEN_SECRET = "e2e-token-secret-0123456789abcdef0123";
export const PUBLISH_SECRET = "e2e-publish-secret-0123";

// Children still running, killed on exit if a test forgot or crashed before its after().
const live = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch (_) {
      // Already gone.
    }
  }
});

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls fn until it returns a truthy value or the deadline passes.
export async function waitFor(fn, { timeout = 5000, every = 50, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (last ? `: ${last.message}` : ""));
    await sleep(every);
  }
}

// A port nothing listens on right now. The OS may hand it out again before it is used, but
// on a test machine that race is rare enough, and every start below fails loudly if it hits.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Keeps the last lines a child printed, so a failing test can show them.
class Tail {
  constructor(max = 200) {
    this.max = max;
    this.lines = [];
    this.partial = "";
  }

  push(chunk) {
    const parts = (this.partial + chunk.toString()).split("\n");
    this.partial = parts.pop();
    for (const l of parts) {
      this.lines.push(l);
      if (this.lines.length > this.max) this.lines.shift();
    }
  }

  text() {
    return this.lines.concat(this.partial ? [this.partial] : []).join("\n");
  }
}

export function startChild(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  const tail = new Tail();
  for (const s of [child.stdout, child.stderr]) {
    s.on("data", (d) => {
      tail.push(d);
      if (verbose) process.stderr.write(`[${name}] ${d}`);
    });
  }
  live.add(child);
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.on("error", (err) => {
      live.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
  });
  return { child, tail, exited };
}

// Sends sig and waits for the exit; SIGKILL after `grace` ms if the child is still there.
export async function stopChild(c, sig = "SIGTERM", grace = 10000) {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return c ? c.exited : undefined;
  c.child.kill(sig);
  const timer = setTimeout(() => c.child.kill("SIGKILL"), grace);
  const res = await c.exited;
  clearTimeout(timer);
  return res;
}

// ---- redis-server ----

// One RESP round trip on a fresh connection: enough to check liveness and set a key.
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let buf = "";
    sock.setTimeout(2000, () => sock.destroy(new Error("redis: timeout")));
    sock.on("error", reject);
    sock.on("data", (d) => {
      buf += d;
      if (buf.endsWith("\r\n")) {
        sock.end();
        resolve(buf.trim());
      }
    });
    sock.on("connect", () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(""));
    });
  });
}

export async function startRedis() {
  const port = await freePort();
  const c = startChild("redis", "redis-server", [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--save", "",
    "--appendonly", "no",
    "--loglevel", "warning",
  ]);
  try {
    await waitFor(async () => (await redisCommand(port, "PING")) === "+PONG", { timeout: 10000, what: "redis-server" });
  } catch (err) {
    await stopChild(c, "SIGKILL");
    throw new Error(`${err.message}\n${c.tail.text()}`, { cause: err });
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => stopChild(c, "SIGTERM", 5000),
  };
}

// ---- the notifier ----

let built = null;

// Builds ./cmd/notifier once per test process into a temporary folder, removed on exit.
export function buildNotifier() {
  if (built) return built;
  if (process.env.PUSHPOLL_NOTIFIER_BIN) {
    built = Promise.resolve(process.env.PUSHPOLL_NOTIFIER_BIN);
    return built;
  }
  built = new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), "pushpoll-e2e-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, "notifier");
    execFile("go", ["build", "-o", bin, "./cmd/notifier"], { cwd: repoRoot, timeout: 5 * 60 * 1000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`go build ./cmd/notifier failed: ${stderr || err.message}`));
      else resolve(bin);
    });
  });
  return built;
}

// One notifier process on a fixed address, which restart() reuses so that clients find it
// again where they left it.
export class Notifier {
  constructor({ bin, port, redisUrl, origins = [], fast = "1s", slow = "30s", args = [] }) {
    this.bin = bin;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.args = [
      "--listen", `127.0.0.1:${port}`,
      "--token-secret", TOKEN_SECRET,
      "--publish-secret", PUBLISH_SECRET,
      "--fast-interval", fast,
      "--slow-interval", slow,
      "--mode", "push",
      "--log-level", "warn",
      ...(redisUrl ? ["--redis-url", redisUrl] : []),
      ...(origins.length ? ["--allowed-origins", origins.join(",")] : []),
      ...args,
    ];
    this.proc = null;
  }

  static async start(opts) {
    const n = new Notifier({ ...opts, port: opts.port || (await freePort()) });
    await n.start();
    return n;
  }

  get running() {
    return !!this.proc && this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  // Starts the process and waits until /readyz says it takes sockets (broker link up).
  async start() {
    if (this.running) throw new Error("notifier already running");
    this.proc = startChild("notifier", this.bin, this.args, { cwd: repoRoot });
    const proc = this.proc;
    try {
      await waitFor(
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`exited with ${proc.child.exitCode}`);
          const res = await fetch(this.url + "/readyz");
          await res.arrayBuffer();
          return res.status === 200;
        },
        { timeout: 15000, what: "notifier /readyz" },
      );
    } catch (err) {
      await stopChild(proc, "SIGKILL");
      throw new Error(`${err.message}\n${proc.tail.text()}`, { cause: err });
    }
  }

  // SIGKILL: the node dies without a word, as in a crash or an OOM kill.
  async kill() {
    return stopChild(this.proc, "SIGKILL");
  }

  // SIGTERM: the node drains. Resolves when the process has exited.
  async terminate(grace = 60000) {
    return stopChild(this.proc, "SIGTERM", grace);
  }

  // The exit of the current process, whenever it comes.
  exited() {
    return this.proc ? this.proc.exited : Promise.resolve(null);
  }

  async restart() {
    if (this.running) await this.kill();
    await this.start();
  }

  logs() {
    return this.proc ? this.proc.tail.text() : "";
  }

  // The value of an unlabelled metric from /metrics, or undefined.
  async metric(name) {
    const text = await (await fetch(this.url + "/metrics")).text();
    const line = text.split("\n").find((l) => l.startsWith(name + " "));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  }

  async stop() {
    if (this.proc) await stopChild(this.proc, "SIGTERM", 5000);
  }
}

// ---- tokens and publishing ----

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");

// An HS256 JWT as the app would mint it. `exp` is unix seconds; `secret` and `alg` let a
// test forge one.
export function mintToken({ topics, sub = "e2e-user", aud = "pushpoll", ttl = 300, exp, secret = TOKEN_SECRET, alg = "HS256" }) {
  const head = b64url({ alg, typ: "JWT" });
  const body = b64url({ sub, aud, exp: exp ?? Math.floor(Date.now() / 1000) + ttl, topics });
  const sig = alg === "none" ? "" : createHmac("sha256", secret).update(head + "." + body).digest("base64url");
  return `${head}.${body}.${sig}`;
}

// POST /v1/publish; resolves to the response status and JSON body.
export async function publish(notifierUrl, items, secret = PUBLISH_SECRET) {
  const res = await fetch(notifierUrl + "/v1/publish", {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify(items),
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

// ---- the app: test page and poll endpoint ----

// The page loads the shim from scriptBase (by default the notifier, another origin) and
// exposes startShim(opts), which starts PushPoll with a poll that calls this app and records
// what happens.
export function pageHtml(notifierUrl, scriptBase = notifierUrl) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>pushpoll e2e</title>
<script src="${scriptBase}/pushpoll.js"></script>
<script>
window.e2e = { modes: [], hints: [], polls: [], errors: [], pp: null };
window.startShim = function (opts) {
  var e2e = window.e2e;
  var topics = Object.keys(opts.topics || {});
  e2e.modes.push({ mode: "start", at: performance.now() });
  // page names this page to the app; the shim reports keys it does not know.
  var shimOpts = Object.assign({}, opts);
  delete shimOpts.page;
  e2e.pp = PushPoll.start(Object.assign(shimOpts, {
    poll: function (versions) {
      var startedAt = performance.now();
      var url = "/poll?page=" + encodeURIComponent(opts.page) + "&topics=" + encodeURIComponent(topics.join(","));
      return fetch(url).then(function (r) { return r.json(); }).then(function (got) {
        e2e.polls.push({ at: startedAt, done: performance.now(), sent: versions, got: got });
        return got;
      });
    },
    onMode: function (m) { e2e.modes.push({ mode: m, at: performance.now() }); },
    onHint: function (t, v) { e2e.hints.push({ topic: t, v: v, at: performance.now(), wall: Date.now() }); },
    onError: function (err) { e2e.errors.push(String(err && err.message || err)); },
  }));
  e2e.modes.push({ mode: e2e.pp.mode, at: performance.now() });
  return e2e.pp.mode;
};
</script></head>
<body><p>pushpoll e2e page</p></body></html>`;
}

// The app server. versions: topic -> the version the app has now; polls(page) lists the
// arrival time (Date.now()) and answer of every poll that page made. The app serves the
// single-file build at /assets/pushpoll.js, as the README's first integration does, and
// pages: path -> (notifierUrl, request URL) => HTML, beside the usual test page at /.
export async function startApp({ pages = {} } = {}) {
  const versions = new Map();
  const polls = new Map();
  let notifierUrl = "";
  const server = createServer((req, res) => {
    const u = new URL(req.url, "http://app");
    if (u.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(pageHtml(notifierUrl));
      return;
    }
    if (Object.hasOwn(pages, u.pathname)) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(pages[u.pathname](notifierUrl, u));
      return;
    }
    if (u.pathname === "/assets/pushpoll.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
      res.end(readFileSync(join(repoRoot, "client-js", "dist", "pushpoll.js")));
      return;
    }
    if (u.pathname === "/poll") {
      const page = u.searchParams.get("page") || "";
      const topics = (u.searchParams.get("topics") || "").split(",").filter(Boolean);
      const answer = {};
      for (const t of topics) answer[t] = versions.get(t) || 0;
      if (!polls.has(page)) polls.set(page, []);
      polls.get(page).push({ at: Date.now(), answer });
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(answer));
      return;
    }
    if (u.pathname === "/favicon.ico") {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  // Keep-alive sockets from the browser would hold close() open.
  server.keepAliveTimeout = 1000;
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    versions,
    setNotifier(url) {
      notifierUrl = url;
    },
    polls(page) {
      return polls.get(page) || [];
    },
    // Polls of page that arrived at or after `since` (Date.now() clock).
    pollsSince(page, since) {
      return this.polls(page).filter((p) => p.at >= since);
    },
    stop() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- browser ----

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

// Headless Chromium from the system, with a fresh temporary profile that playwright removes
// on close.
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

// ---- the usual stack ----

// A real redis-server, the app, one notifier on that Redis serving the app's origin, and
// Chromium: what the browser suites run against. stop() ends whatever was started, also
// when starting failed half way (then start rethrows).
export async function startStack({ fast, slow, args = [] }) {
  const s = {};
  s.stop = async () => {
    if (s.browser) await s.browser.close();
    if (s.notifier) await s.notifier.stop();
    if (s.app) await s.app.stop();
    if (s.redis) await s.redis.stop();
  };
  try {
    const bin = await buildNotifier();
    s.redis = await startRedis();
    s.app = await startApp();
    s.notifier = await Notifier.start({ bin, redisUrl: s.redis.url, origins: [s.app.origin], fast, slow, args });
    s.app.setNotifier(s.notifier.url);
    s.browser = await launchChromium();
  } catch (err) {
    await s.stop();
    throw err;
  }
  return s;
}

// Prints a measured figure under the test that made it.
export const report = (...args) => console.log("  e2e:", ...args);

// Records a socket.io client's events (names) from its creation on, so none is missed
// between connecting and a test starting to wait. next() resolves with the first event
// matching pred, already received or still to come; of() lists the messages of one event.
export function recordEvents(socket, names) {
  const events = [];
  const waiters = new Set();
  for (const ev of names) {
    socket.on(ev, (msg) => {
      const e = { ev, msg, at: Date.now() };
      events.push(e);
      for (const w of waiters) w(e);
    });
  }
  return {
    events,
    next(ev, pred = () => true, timeout = 3000) {
      const found = events.find((e) => e.ev === ev && pred(e.msg));
      if (found) return Promise.resolve(found.msg);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no ${ev} event within ${timeout} ms; got ${JSON.stringify(events)}`));
        }, timeout);
        const w = (e) => {
          if (e.ev === ev && pred(e.msg)) {
            clearTimeout(timer);
            waiters.delete(w);
            resolve(e.msg);
          }
        };
        waiters.add(w);
      });
    },
    of(ev) {
      return events.filter((e) => e.ev === ev).map((e) => e.msg);
    },
  };
}
