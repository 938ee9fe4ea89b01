#!/usr/bin/env node
// pushpoll: tell pushpoll notifiers that a topic changed, and mint the tokens
// that let a browser listen for those hints. Needs node-redis 5 or later and
// jsonwebtoken (the npm package pushpoll-publisher depends on both).
//
//   import * as pushpoll from "pushpoll-publisher";
//   const { redis, cluster } = await pushpoll.connect(process.env.PUSHPOLL_REDIS_URL); // any --redis-url form
//   pushpoll.configure({
//     redis, cluster,                             // or your own connected node-redis client, Sentinel or cluster
//     prefix: "pushpoll:",                        // the notifier's --channel-prefix
//     secret: process.env.PUSHPOLL_TOKEN_SECRET,  // the notifier's --token-secret
//     audience: "pushpoll",                       // the notifier's --token-audience
//   });
//   await pushpoll.bump("project:42", 1058);      // true if raised, false if not newer
//   pushpoll.token({ sub: user.id, topics: ["project:42", "user:7:*"], ttl: 300 }); // "eyJ..."
//
// Invalid topics, versions, subjects and ttls throw a TypeError with code
// ERR_PUSHPOLL_INVALID_ARG before anything is sent (bump rejects its promise);
// Redis failures reject with node-redis's errors.
//
// Run as a program (pushpoll-publish once installed), it is the command-line
// publisher the project's tests drive:
//
//   node pushpoll.mjs bump <redis-url> <topic> <version>        prints true or false
//   node pushpoll.mjs token <secret> <sub> <topic,topic> <ttl>  prints the token
//   node pushpoll.mjs lua                                       prints the embedded script
//
// PUSHPOLL_CHANNEL_PREFIX and PUSHPOLL_TOKEN_AUDIENCE override the defaults, as
// for the notifier. Exit status 2 means bad arguments, 1 any other failure.

import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import jwt from "jsonwebtoken";
import { createClient, createCluster, createSentinel } from "redis";

// SCRIPT is notifier/publish.lua, byte for byte, embedded so that this file
// works on its own inside an app. The project's tests fail if the two drift.
export const SCRIPT = `-- pushpoll publish: raise a topic's version and announce it, in one round trip.
--
-- KEYS[1]  the topic's key, which is also its channel: <prefix><topic>
-- ARGV[1]  the new version, a positive decimal integer (int64)
-- ARGV[2]  the payload to PUBLISH, e.g. {"v":1057,"ts":1700000000000}
-- ARGV[3]  optional: SPUBLISH to announce on the sharded channel (Redis
--          Cluster, where key and channel share a slot); PUBLISH (or empty)
--          otherwise
-- ARGV[4]  optional: the key's lifetime in whole seconds (the node's
--          --version-ttl); empty or 0 keeps the key for ever. A helper that
--          sets it passes ARGV[3] too, e.g. EVALSHA sha 1 key 1058 payload
--          PUBLISH 604800. An expired key reads as unknown, and a node with
--          --version-ttl tells a subscriber of an unknown topic to poll.
--
-- The key only ever rises: an older or equal version (a retry, a race between
-- two app servers) changes nothing and announces nothing, so browsers are
-- never hinted backwards. Returns 1 when the version was raised and
-- published, 0 when it was not newer.
--
-- Versions are compared as decimal strings (length first, then digits)
-- because Lua numbers are doubles and lose exactness above 2^53.
local new = ARGV[1]
if not string.match(new, "^[1-9][0-9]*$") or #new > 19 or (#new == 19 and new > "9223372036854775807") then
  return redis.error_reply("pushpoll: version must be a positive int64")
end
local cur = redis.call("GET", KEYS[1])
if cur and string.match(cur, "^[1-9][0-9]*$") then
  if #new < #cur or (#new == #cur and new <= cur) then
    return 0
  end
end
local ttl = ARGV[4]
if ttl and ttl ~= "" and ttl ~= "0" then
  if not string.match(ttl, "^[1-9][0-9]*$") or #ttl > 10 then
    return redis.error_reply("pushpoll: ttl must be whole seconds")
  end
  redis.call("SET", KEYS[1], new, "EX", ttl)
else
  redis.call("SET", KEYS[1], new)
end
if ARGV[3] == "SPUBLISH" then
  redis.call("SPUBLISH", KEYS[1], ARGV[2])
else
  redis.call("PUBLISH", KEYS[1], ARGV[2])
end
return 1
`;
const SCRIPT_SHA = createHash("sha1").update(SCRIPT).digest("hex");

// The notifier refuses this topic on every path; it once named the feature flag.
const RESERVED_TOPIC = "mode";
// A topic as the notifier accepts it.
const TOPIC = /^[A-Za-z0-9_.:/@-]{1,200}$/;
// A token may also grant every topic under a prefix, written with a trailing *.
const TOPIC_PREFIX = /^[A-Za-z0-9_.:/@-]{0,199}\*$/;
// Versions are int64 on the wire; the decimal form is what the script compares.
const VERSION_DIGITS = /^[1-9][0-9]*$/;
const MAX_VERSION = 2n ** 63n - 1n;

let config = null;

function invalid(message) {
  const err = new TypeError(`pushpoll: ${message}`);
  err.code = "ERR_PUSHPOLL_INVALID_ARG";
  return err;
}

// configure sets the connection and settings for every later call. redis may
// be omitted in a process that only mints tokens, secret in one that only bumps.
// redis is a connected node-redis client (createClient), Sentinel client
// (createSentinel) or cluster (createCluster).
// cluster: true says that redis is a node-redis cluster: bumps
// then announce with SPUBLISH on the topic's shard. connect builds either from
// a --redis-url.
export function configure({ redis = null, cluster = false, prefix = "pushpoll:", secret = null, audience = "pushpoll" } = {}) {
  if (typeof prefix !== "string") throw invalid("prefix must be a string");
  if (typeof audience !== "string" || audience === "") throw invalid("audience must be a non-empty string");
  config = Object.freeze({ redis, cluster: Boolean(cluster), prefix, secret, audience });
}

// The notifier's --redis-url forms: one server, a master behind sentinels, a
// cluster; rediss for TLS.
const REDIS_URL = /^(rediss?)(-sentinel|-cluster)?:\/\/(?:([^@/]*)@)?([^@/?#]+)(?:\/([^?#]*))?$/;

// connect opens a connected client for any of the notifier's --redis-url
// forms and resolves to { redis, cluster }, ready for configure:
//   redis[s]://[[user]:password@]host:port[/db]
//   redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>]
//   redis[s]-cluster://[[user]:password@]host:port[,host:port...]
// The credentials are the data nodes'; sentinels are asked without them. A
// Sentinel URL gives node-redis's Sentinel client, which follows failovers by
// itself: a long-running process connects once. socket is merged into
// node-redis's socket options (e.g. { reconnectStrategy: false }). Close the
// client with redis.close() (or redis.destroy()).
export async function connect(url, { socket = {} } = {}) {
  const m = REDIS_URL.exec(String(url));
  if (!m) throw invalid("the Redis URL must be redis[s]://, redis[s]-sentinel:// or redis[s]-cluster:// (see connect)");
  const [, scheme, kind, userinfo, hosts, path] = m;
  const auth = {};
  if (userinfo !== undefined) {
    let [user, ...rest] = userinfo.split(":");
    let password = rest.join(":");
    if (rest.length === 0) [user, password] = ["", user]; // a lone word is the password, as for redis-cli
    if (user) auth.username = decodeURIComponent(user);
    if (password) auth.password = decodeURIComponent(password);
  }
  const nodes = hosts.split(",").map((hp) => {
    const i = hp.lastIndexOf(":");
    const host = hp.slice(0, i).replace(/^\[(.*)\]$/, "$1");
    const port = hp.slice(i + 1);
    if (i <= 0 || !/^[0-9]+$/.test(port)) throw invalid(`${JSON.stringify(hp)} in the Redis URL is not host:port`);
    return { host, port: Number(port) };
  });
  const segments = path ? path.split("/") : [];
  const tls = scheme === "rediss";
  const database = (s) => (s ? Number(s) : 0);
  let redis;
  if (kind === undefined) {
    if (nodes.length > 1) throw invalid("several hosts need redis-sentinel:// or redis-cluster://");
    redis = createClient({ ...auth, database: database(segments[0]), socket: { ...nodes[0], tls, ...socket } });
  } else if (kind === "-cluster") {
    if (segments.length > 0) throw invalid("a cluster URL takes no database");
    redis = createCluster({
      rootNodes: nodes.map((n) => ({ socket: { ...n, tls } })),
      defaults: { ...auth, socket: { tls, ...socket } },
    });
  } else {
    if (!segments[0]) throw invalid("the master name is missing from the redis-sentinel:// URL");
    redis = createSentinel({
      name: segments[0],
      sentinelRootNodes: nodes,
      nodeClientOptions: { ...auth, database: database(segments[1]), socket: { tls, ...socket } },
      sentinelClientOptions: { socket: { tls, ...socket } },
    });
  }
  // node-redis emits connection errors as events and also rejects the
  // pending call; the rejection is what gets reported.
  redis.on("error", () => {});
  await redis.connect();
  return { redis, cluster: kind === "-cluster" };
}

function current() {
  if (config === null) throw new Error("pushpoll: call configure first");
  return config;
}

// bump raises topic's version to version and hints the notifiers, in one
// round trip. It resolves to false, and announces nothing, when the stored
// version is already as new: retries and racing app servers are harmless.
// version is a positive integer up to 2**63-1: a safe-integer number, a
// bigint, or a decimal string (the last two for versions past 2**53).
export async function bump(topic, version) {
  checkTopic(topic);
  const v = versionString(version);
  const { redis, cluster, prefix } = current();
  if (!redis) throw new Error("pushpoll: configure({ redis }) before bump");
  // Built by hand so that a bigint version is written exactly; JSON.stringify
  // refuses bigints and numbers lose digits past 2**53.
  const payload = `{"v":${v},"ts":${Date.now()}}`;
  const opts = { keys: [prefix + topic], arguments: cluster ? [v, payload, "SPUBLISH"] : [v, payload] };
  let raised;
  try {
    raised = await redis.evalSha(SCRIPT_SHA, opts);
  } catch (err) {
    // The script cache is empty after a Redis restart or failover; EVAL loads
    // it again, and later calls go back to the cheap EVALSHA.
    if (!String(err?.message).startsWith("NOSCRIPT")) throw err;
    raised = await redis.eval(SCRIPT, opts);
  }
  return raised === 1;
}

// token mints the HS256 JWT a browser presents to the notifier. sub is
// stringified because JWT requires a string subject and the notifier rejects
// any other type; topics are exact topics or prefixes ending in *; ttl is
// seconds.
export function token({ sub, topics, ttl = 300 } = {}) {
  const { secret, audience } = current();
  if (!secret) throw new Error("pushpoll: configure({ secret }) before token");
  const subject = sub === undefined || sub === null ? "" : String(sub);
  if (subject === "") throw invalid("sub must not be empty");
  const grants = checkGrants(topics);
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw invalid(`ttl must be a positive integer of seconds (got ${String(ttl)})`);
  // jsonwebtoken sets iat to now and exp to iat + ttl.
  return jwt.sign({ topics: grants }, secret, { algorithm: "HS256", subject, audience, expiresIn: ttl });
}

function checkTopic(topic) {
  if (typeof topic !== "string" || !TOPIC.test(topic)) {
    throw invalid(`topic must be 1-200 characters of A-Z a-z 0-9 _ . : / @ - (got ${JSON.stringify(topic)})`);
  }
  if (topic === RESERVED_TOPIC) throw invalid('the topic "mode" is reserved');
}

function versionString(version) {
  let s = null;
  if (typeof version === "number" && Number.isSafeInteger(version) && version > 0) s = String(version);
  else if (typeof version === "bigint" && version > 0n) s = version.toString();
  else if (typeof version === "string" && VERSION_DIGITS.test(version)) s = version;
  if (s === null || BigInt(s) > MAX_VERSION) throw invalid(`version must be a positive int64 (got ${String(version)})`);
  return s;
}

function checkGrants(topics) {
  if (!Array.isArray(topics)) throw invalid("topics must be an array");
  if (topics.length === 0) throw invalid("topics must not be empty");
  for (const t of topics) {
    if (typeof t !== "string" || !(TOPIC.test(t) || TOPIC_PREFIX.test(t))) {
      throw invalid(`${JSON.stringify(t)} is neither a topic nor a prefix ending in *`);
    }
  }
  return [...topics];
}

const USAGE = `usage: node pushpoll.mjs bump <redis-url> <topic> <version>
       node pushpoll.mjs token <secret> <sub> <topic,topic...> <ttl-seconds>
       node pushpoll.mjs lua`;

async function main(argv) {
  const prefix = process.env.PUSHPOLL_CHANNEL_PREFIX ?? "pushpoll:";
  const audience = process.env.PUSHPOLL_TOKEN_AUDIENCE ?? "pushpoll";
  const [command, ...args] = argv;
  if (command === "bump" && args.length === 3) {
    const [url, topic, version] = args;
    // No reconnecting: a one-shot command should fail fast and say why rather
    // than retry forever against a Redis that is not there.
    const { redis: client, cluster } = await connect(url, { socket: { reconnectStrategy: false, connectTimeout: 5000 } });
    try {
      configure({ redis: client, cluster, prefix });
      console.log(String(await bump(topic, version)));
    } finally {
      await client.close();
    }
  } else if (command === "token" && args.length === 4) {
    const [secret, sub, topics, ttl] = args;
    if (!VERSION_DIGITS.test(ttl)) throw invalid(`ttl must be a positive integer of seconds (got ${JSON.stringify(ttl)})`);
    configure({ secret, audience });
    // An empty string means no topics, which token refuses; "a,,b" keeps its
    // empty item and is refused rather than quietly fixed.
    console.log(token({ sub, topics: topics === "" ? [] : topics.split(","), ttl: Number(ttl) }));
  } else if (command === "lua" && args.length === 0) {
    process.stdout.write(SCRIPT);
  } else {
    console.error(USAGE);
    return 2;
  }
  return 0;
}

function isMain() {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err?.code === "ERR_PUSHPOLL_INVALID_ARG") {
        console.error(err.message);
        process.exitCode = 2;
      } else {
        console.error(`pushpoll: ${err?.name ?? "Error"}: ${err?.message ?? err}`);
        process.exitCode = 1;
      }
    },
  );
}
