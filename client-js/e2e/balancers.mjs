// Real nginx and HAProxy in front of the e2e notifiers, running the configurations from
// deploy/ as they are, with only the node addresses and the listen ports replaced. Each also
// gets a second front door that refuses websocket upgrades, as some corporate proxies do.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, repoRoot, startChild, stopChild, waitFor } from "./harness.mjs";

// Replaces `pattern` in text, and insists it was there exactly `count` times: if the deploy
// file changes shape, the test must notice instead of running something else.
function replaceExactly(text, pattern, count, replacement, file) {
  const found = text.match(new RegExp(pattern.source, "g")) || [];
  if (found.length !== count) throw new Error(`${file}: expected ${count} × ${pattern}, found ${found.length}`);
  let i = 0;
  return text.replace(new RegExp(pattern.source, "g"), (...m) => replacement(i++, ...m));
}

// deploy/<file> with its three node addresses pointed at nodes (ports on 127.0.0.1).
function deployConfig(file, nodes) {
  const text = readFileSync(join(repoRoot, "deploy", file), "utf8");
  return replaceExactly(text, /node(\d)\.internal:8080/, nodes.length, (i) => `127.0.0.1:${nodes[i].port}`, file);
}

// Waits until the balancer answers /healthz through a node; with healthy false, until it
// answers at all (every node may be down on purpose: then it says 502 or 503).
async function untilServing(url, proc, what, healthy = true) {
  try {
    await waitFor(
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`exited with ${proc.child.exitCode}`);
        const res = await fetch(url + "/healthz");
        await res.arrayBuffer();
        return res.status === 200 || !healthy;
      },
      { timeout: 10000, what },
    );
  } catch (err) {
    await stopChild(proc, "SIGKILL");
    throw new Error(`${err.message}\n${proc.tail.text()}`, { cause: err });
  }
}

function balancer(name, proc, dir, port, blockedPort) {
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    // The same nodes through a front door that refuses websocket upgrades.
    blockedUrl: `http://127.0.0.1:${blockedPort}`,
    logs: () => proc.tail.text(),
    async stop() {
      await stopChild(proc, "SIGTERM", 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// nginx with deploy/nginx/pushpoll.conf included in a minimal main configuration.
export async function startNginx(nodes, { healthy = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "pushpoll-nginx-"));
  // Worker processes run as nobody when nginx starts as root; they write temp files here.
  chmodSync(dir, 0o777);
  const [port, blockedPort] = [await freePort(), await freePort()];
  const site = replaceExactly(deployConfig("nginx/pushpoll.conf", nodes), /listen 80;/, 1, () => `listen 127.0.0.1:${port};`, "nginx/pushpoll.conf");
  writeFileSync(join(dir, "pushpoll.conf"), site);
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/pushpoll.conf;
  server {
    listen 127.0.0.1:${blockedPort};
    location / {
      if ($http_upgrade) { return 403; }
      proxy_pass http://pushpoll;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_read_timeout 90s;
      proxy_buffering off;
    }
  }
}
`,
  );
  const proc = startChild("nginx", "nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log"), "-g", "daemon off;"]);
  const b = balancer("nginx", proc, dir, port, blockedPort);
  await untilServing(b.url, proc, "nginx", healthy);
  b.errorLog = () => readFileSync(join(dir, "error.log"), "utf8");
  return b;
}

// HAProxy with deploy/haproxy/haproxy.cfg, plus a second file adding the blocking frontend.
export async function startHAProxy(nodes, { healthy = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "pushpoll-haproxy-"));
  const [port, blockedPort] = [await freePort(), await freePort()];
  const cfg = replaceExactly(deployConfig("haproxy/haproxy.cfg", nodes), /bind :80\n/, 1, () => `bind 127.0.0.1:${port}\n`, "haproxy/haproxy.cfg");
  writeFileSync(join(dir, "haproxy.cfg"), cfg);
  writeFileSync(
    join(dir, "blocked.cfg"),
    `frontend blocked
    bind 127.0.0.1:${blockedPort}
    http-request deny deny_status 403 if { hdr(upgrade) -m found }
    default_backend pushpoll
`,
  );
  const proc = startChild("haproxy", "haproxy", ["-db", "-f", join(dir, "haproxy.cfg"), "-f", join(dir, "blocked.cfg")]);
  const b = balancer("haproxy", proc, dir, port, blockedPort);
  await untilServing(b.url, proc, "haproxy", healthy);
  return b;
}
