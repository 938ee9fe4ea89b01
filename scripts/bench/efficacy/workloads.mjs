// The workloads the efficacy benchmark runs. Each says which topics the tab in each slot
// holds (a tab that closes is replaced by one holding the same topics, as a user reopening
// the same board), when topics are bumped, how many nodes serve the tabs (a socket goes to
// one at random, as behind a balancer, so a topic's holders are spread over them) and the
// server event it goes through (events.mjs; `kill` is the first round's outage; the server
// events are measured on tracker, so the new big workloads go through none). Bumps come from the simulation's own seeded
// generator, so every run of a workload sees the same bumps.
import { exp } from "./clock.mjs";

// poisson calls bump(t) at Poisson arrivals of `rate` per second over [0, end) ms.
function poisson(random, rate, end, bump) {
  for (let at = exp(random, 1000 / rate); at < end; at += exp(random, 1000 / rate)) bump(at);
}

export const WORKLOADS = {
  // The benchmark's first workload: 2,000 pages, each on one of 1,000 small topics bumped
  // 1/s in all (Poisson); the first 1,000 pages also hold one big topic bumped every 120 s.
  current: {
    about: "2,000 tabs, each on one of 1,000 small topics (1 bump/s over all, Poisson); 1,000 of them also on one big topic bumped every 120 s",
    tabs: 2000,
    nodes: 2,
    event: "kill",
    topicsOf: (i) => (i < 1000 ? ["t:" + (i % 1000), "big"] : ["t:" + (i % 1000)]),
    bumps(random, end, bump) {
      poisson(random, 1, end, (at) => bump(at, "t:" + Math.floor(random() * 1000)));
      for (let at = 60000; at < end; at += 120000) bump(at, "big");
    },
  },
  // A project tracker: a few boards everybody watches, and many that one team looks at.
  tracker: {
    about: "30,000 tabs: 5 busy topics × 1,000 tabs bumped every ~15 s each (Poisson); 25,000 tabs over 5,000 quiet topics bumped ~once an hour each",
    tabs: 30000,
    nodes: 3,
    event: "kill",
    topicsOf: (i) => (i < 5000 ? ["busy:" + (i % 5)] : ["quiet:" + ((i - 5000) % 5000)]),
    bumps(random, end, bump) {
      for (let b = 0; b < 5; b++) poisson(random, 1 / 15, end, (at) => bump(at, "busy:" + b));
      poisson(random, 5000 / 3600, end, (at) => bump(at, "quiet:" + Math.floor(random() * 5000)));
    },
  },
  // One topic everybody holds, bumped 1 to 10 times a second: the rate is drawn anew every
  // minute.
  hot: {
    about: "1,000 tabs on one topic bumped 1–10×/s (Poisson, the rate drawn anew each minute)",
    tabs: 1000,
    nodes: 2,
    event: "kill",
    topicsOf: () => ["hot"],
    bumps(random, end, bump) {
      for (let m = 0; m < end; m += 60000) {
        const rate = 1 + 9 * random();
        poisson(random, rate, Math.min(60000, end - m), (at) => bump(m + at, "hot"));
      }
    },
  },
  // A topic every page holds (an announcement banner, a global feed).
  global: {
    about: "100,000 tabs on 6 nodes, all holding one topic bumped every 60 s",
    tabs: 100000,
    nodes: 6,
    event: "none",
    topicsOf: () => ["global"],
    bumps(random, end, bump) {
      for (let at = 30000; at < end; at += 60000) bump(at, "global");
    },
  },
  // One topic everybody holds, bumped far faster than anyone polls.
  flood: {
    about: "10,000 tabs on 2 nodes, all holding one topic bumped every 200 ms",
    tabs: 10000,
    nodes: 2,
    event: "none",
    // Five bumps a second in 10,000 tabs: the staleness of one bump a second is measured.
    staleEvery: 5,
    topicsOf: () => ["flood"],
    bumps(random, end, bump) {
      for (let at = 200; at < end; at += 200) bump(at, "flood");
    },
  },
};

// Each server event on `tracker`: tracker-redis, tracker-flip, tracker-drain, tracker-stall.
for (const event of ["redis", "flip", "drain", "stall"]) {
  WORKLOADS["tracker-" + event] = { ...WORKLOADS.tracker, event, about: WORKLOADS.tracker.about + `; server event: ${event}` };
}
