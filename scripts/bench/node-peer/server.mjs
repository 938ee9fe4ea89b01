// Benchmark peer: socket.io 4 used the obvious way. Sockets join a room per
// topic on `subscribe` (acked like the notifier: {granted, denied}); every
// Redis bump is an emit of `stale` to the topic's room. No token check, no
// versions kept: this is the fan-out path alone.
//
//   redis ── pSubscribe pushpoll:* ──► io.to(topic).emit("stale", {topic: v})
//   client (socket.io 2 / EIO3) ── subscribe {token, topics} ──► join(topic) ×n, ack
//
// Flags: --listen host:port (127.0.0.1:8091), --redis-url (redis://127.0.0.1:6379),
// --channel-prefix (pushpoll:), --ping-interval-ms (10000), --ping-timeout-ms (20000).
// GET /metrics answers node_sockets and RSS.
import http from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { createClient } from "redis";

const { values: args } = parseArgs({
  options: {
    listen: { type: "string", default: "127.0.0.1:8091" },
    "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
    "channel-prefix": { type: "string", default: "pushpoll:" },
    "ping-interval-ms": { type: "string", default: "10000" },
    "ping-timeout-ms": { type: "string", default: "20000" },
  },
});
const [host, port] = args.listen.split(/:(?=[^:]*$)/);
const prefix = args["channel-prefix"];

const httpServer = http.createServer((req, res) => {
  if (req.url === "/metrics") {
    res.end(`node_sockets ${io.engine.clientsCount}\nprocess_resident_memory_bytes ${process.memoryUsage().rss}\n`);
    return;
  }
  res.statusCode = 404;
  res.end();
});

const io = new Server(httpServer, {
  allowEIO3: true, // the load generator (and pushpoll's browsers) speak socket.io 2
  cors: { origin: true },
  // The Engine.IO 3 client pings; the defaults are the notifier's.
  pingInterval: Number(args["ping-interval-ms"]),
  pingTimeout: Number(args["ping-timeout-ms"]),
});

io.on("connection", (socket) => {
  socket.on("subscribe", (req, ack) => {
    const topics = req && typeof req.topics === "object" && req.topics ? Object.keys(req.topics) : [];
    socket.join(topics);
    if (typeof ack === "function") ack({ granted: topics, denied: {} });
  });
  socket.on("unsubscribe", (topics) => {
    if (Array.isArray(topics)) for (const t of topics) socket.leave(t);
  });
});

function version(message) {
  const s = message.trim();
  if (s[0] !== "{") return Number(s);
  try {
    return JSON.parse(s).v;
  } catch {
    return NaN;
  }
}

const sub = createClient({ url: args["redis-url"] });
sub.on("error", (err) => console.error("node-peer: redis:", err.message));
await sub.connect();
await sub.pSubscribe(prefix + "*", (message, channel) => {
  const v = version(message);
  if (!Number.isSafeInteger(v) || v < 0) return;
  const topic = channel.slice(prefix.length);
  io.to(topic).emit("stale", { [topic]: v });
});

httpServer.listen(Number(port), host, () => console.error(`node-peer: listening on ${host}:${port}`));
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    sub.quit().finally(() => process.exit(0));
  });
}
