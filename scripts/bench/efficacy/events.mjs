// Server events the efficacy benchmark puts a workload through, each as the notifier
// behaves (docs/DESIGN.md §4-5, notifier/config.go defaults): at `at` ms, for `d` ms.
// schedule(sim, at, d) arranges it on the simulated clock and returns [from, to): the span
// whose polls count as "during the event" (it ends 30 s after the servers are back, while
// the pages reconnect and settle).

// A broker link that delivers nothing is noticed within ReadTimeout (3 × PingEvery 1 s).
const REDIS_DETECT_MS = 3000;
// Every node follows a flag flip "within a few seconds".
const FLIP_LAG_MS = 2000;
// notifier --drain-timeout default 30 s; clients are told to move within 2/3 of it.
const DRAIN_TIMEOUT_MS = 30000;
const DRAIN_WITHIN_MS = 20000;
// A deployed node takes this long to start again.
const RESTART_MS = 5000;
const SETTLE_MS = 30000;

export const EVENTS = {
  none: {
    about: "no server event",
    schedule: () => null,
  },
  kill: {
    about: "every node killed for the event's length (sockets see `transport close` and reconnect on socket.io's backoff)",
    schedule(sim, at, d) {
      sim.clock.task(at, null, () => sim.nodes.forEach((n) => n.kill()));
      sim.clock.task(at + d, null, () => sim.nodes.forEach((n) => n.restart()));
      return [at, at + d + SETTLE_MS];
    },
  },
  redis: {
    about: "Redis unreachable for the event's length: each node notices within 3 s and sends mode `poll`; when Redis is back it resyncs (hints spread over 2 s) and sends mode `push`",
    schedule(sim, at, d) {
      sim.clock.task(at, null, () => (sim.redisUp = false));
      sim.clock.task(at + REDIS_DETECT_MS, null, () => sim.nodes.forEach((n) => n.up && n.setMode("poll")));
      sim.clock.task(at + d, null, () => (sim.redisUp = true));
      sim.clock.task(at + d + REDIS_DETECT_MS, null, () => sim.nodes.forEach((n) => n.up && n.resync()));
      return [at, at + d + SETTLE_MS];
    },
  },
  flip: {
    about: "the admin flips the mode to `poll` and back to `push` after the event's length; each node follows within 2 s",
    schedule(sim, at, d) {
      for (const n of sim.nodes) {
        sim.clock.task(at + sim.random() * FLIP_LAG_MS, null, () => n.up && n.setMode("poll"));
        sim.clock.task(at + d + sim.random() * FLIP_LAG_MS, null, () => n.up && n.setMode("push"));
      }
      return [at, at + d + FLIP_LAG_MS + SETTLE_MS];
    },
  },
  drain: {
    about: "a rolling deploy: node after node is drained (`drain` within 20 s, closed after 30 s, back 5 s later)",
    schedule(sim, at, d) {
      const gap = Math.max(DRAIN_TIMEOUT_MS + RESTART_MS, d / sim.nodes.length);
      sim.nodes.forEach((n, i) =>
        sim.clock.task(at + i * gap, null, () => n.drain(DRAIN_WITHIN_MS, DRAIN_TIMEOUT_MS, RESTART_MS)),
      );
      return [at, at + sim.nodes.length * gap + SETTLE_MS];
    },
  },
  stall: {
    about: "one node stalls for the event's length (no pong, no hint, no subscribe answer), then flushes everything it held back at once",
    schedule(sim, at, d) {
      const n = sim.nodes[0];
      sim.clock.task(at, null, () => n.stall());
      sim.clock.task(at + d, null, () => n.flush());
      return [at, at + d + SETTLE_MS];
    },
  },
};
