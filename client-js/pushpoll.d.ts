// Types for the pushpoll browser shim. Written by hand to match src/pushpoll.js, whose
// header comment is the reference for defaults and behaviour.

/** Topic name -> version (an integer that only grows; 0 = unknown). */
export type Versions = Record<string, number>;

/** "push": hints trusted, polling at `slow`. "poll" / "shadow": polling at `fast`.
 * "off": `enabled: false` (or after stop()), polling at `fast` without a connection. */
export type Mode = "push" | "poll" | "shadow" | "off";

export interface PollInfo {
  /** What started the poll. */
  reason: "timer" | "hint";
  /** false when the poll threw, rejected or timed out; the next one then comes after `fast`. */
  ok: boolean;
  /** Versions held after the poll. */
  versions: Versions;
  /** Topics whose change this poll found although no hint announced it (push and shadow modes). */
  missed: string[];
}

export interface Options {
  /** Notifier origin, e.g. "https://push.example.com". Required unless `enabled` is false. */
  url?: string;
  /** A token, or a function returning one; called on every (re)connect and on `expired`. */
  token?: string | (() => string | Promise<string>);
  /** Topic -> version the page holds now. Default {}. */
  topics?: Versions;
  /** The app's own poll: gets a copy of the versions held, resolves to the versions now held. */
  poll: (versions: Versions) => Versions | void | Promise<Versions | void>;
  /** ms between polls when push is not trusted; 1000..86400000, default 5000. The server may shorten it to fastMin, never lengthen it. */
  fast?: number;
  /** The shortest fast a server may ask for; 1000..fast, default the page's fast (no server value makes the page poll more often than without pushpoll). */
  fastMin?: number;
  /** ms between safety-net polls in push mode, each drawn in [slow/2, slow]; fast..slowMax, default 60000. The server may set it within fast..slowMax. */
  slow?: number;
  /** The longest slow the server or the adaptive safety net may ask for. Default max(slow, 600000). */
  slowMax?: number;
  /** A hinted poll waits a random 0..max(jitter, the node's spread) ms, never more than fast. Default 1000. */
  jitter?: number;
  /**
   * ms per token of the per-page budget. Default: the current fast. The budget: at most one
   * poll in any 1 s and 60000 / throttle in any rolling 60 s; hinted polls draw on a bucket
   * of 2 tokens refilled one per throttle, empty at start (the page's load counts as one
   * throttle of polling, so no hinted poll comes before it); timer polls take a token when
   * there is one.
   */
  throttle?: number;
  /** A poll not settled after this many ms counts as failed; the next waits for the app's request to end. Default 30000. */
  pollTimeout?: number;
  /** Let the safety-net interval double up to slowMax while safety-net polls find nothing. Default false. */
  adaptive?: boolean;
  /** false: never connect, poll every `fast`. Default true. */
  enabled?: boolean;
  /** Called on every mode change after start. */
  onMode?: (mode: Mode) => void;
  /** socket.io transports, used as given. Default: websocket, falling back to long-polling (remembered for an hour) when websocket cannot be opened. */
  transports?: string[];
  /** Extra socket.io-client options (path, query...), applied over the shim's. */
  socketOptions?: Record<string, unknown>;
  /** Share one socket between the tabs of this browser. Default true. */
  share?: boolean;
  /** ms of server silence before push counts as unhealthy; 0 = off. Default: ping interval + 10000. */
  heartbeatTimeout?: number;
  /** Interval multiplier while the document is hidden (at least a minute after 5 minutes hidden); 1..100, default 4. */
  hiddenFactor?: number;
  /** Every hint received, useful or not. */
  onHint?: (topic: string, version: number) => void;
  /** After every poll settles. */
  onPoll?: (info: PollInfo) => void;
  /** Failed or timed-out polls, token fetches, denied topics, connect errors, refused intervals. Default console.warn. */
  onError?: (error: unknown) => void;
}

export interface PushPoll {
  /** The current mode. */
  readonly mode: Mode;
  /** "holder": this tab holds the socket its browser's tabs share; "follower": another tab does; "alone": its own socket, or none. */
  readonly shared: "holder" | "follower" | "alone";
  /** The page learned a version some other way; only ever raises what is held. */
  setVersion(topic: string, version: number): void;
  /** Ends polling and closes the connection; nothing is left running. */
  stop(): void;
}

export function start(options: Options): PushPoll;

declare const _default: { start: typeof start };
export default _default;
