// A page's use of the shim, checked against pushpoll.d.ts by `tsc -p test/types` (npm test).
// The @ts-expect-error lines are misuses the types must refuse: if one compiles, tsc fails.
import { start, type Mode, type Options, type PollInfo, type PushPoll, type Versions } from "pushpoll-client/pushpoll.mjs";
import pushpoll from "pushpoll-client";

declare function render(p: unknown): void;

// The README's snippet.
const pp: PushPoll = start({
  url: "https://push.example.com",
  token: () => fetch("/pushpoll/token?project_id=42").then((r) => r.text()),
  topics: { "project:42": 1057 },
  poll: async () => {
    const p = await fetch("/projects/42.json").then((r) => r.json());
    render(p);
    return { "project:42": p.version as number };
  },
});

// Every option.
const all: Options = {
  url: "https://push.example.com",
  token: "a.b.c",
  topics: { "user:7": 0 },
  poll: (versions: Versions) => versions,
  fast: 5000,
  slow: 60000,
  slowMax: 600000,
  jitter: 1000,
  throttle: 5000,
  pollTimeout: 30000,
  adaptive: false,
  enabled: true,
  onMode: (m: Mode) => void m,
  transports: ["websocket"],
  socketOptions: { path: "/socket.io" },
  share: false,
  heartbeatTimeout: 0,
  hiddenFactor: 4,
  onHint: (topic: string, version: number) => void [topic, version],
  onPoll: (info: PollInfo) => void [info.reason, info.ok, info.versions, info.missed.length],
  onError: (err: unknown) => void err,
};
pushpoll.start(all).stop();

const mode: Mode = pp.mode;
const role: "holder" | "follower" | "alone" = pp.shared;
void role;
pp.setVersion("project:42", 1061);
pp.stop();
void mode;

// @ts-expect-error poll is required
start({ url: "https://push.example.com" });
// @ts-expect-error intervals are numbers of ms
start({ poll: () => ({}), fast: "5s" });
// @ts-expect-error mode is read-only
pp.mode = "push";
// @ts-expect-error shared is read-only
pp.shared = "holder";
// @ts-expect-error test seams are not public options
start({ poll: () => ({}), random: Math.random });
// @ts-expect-error an option the shim does not know (it would report it to onError)
start({ poll: () => ({}), slowmax: 600000 });
// @ts-expect-error there is no such mode
const wrong: Mode = "sleep";
void wrong;
