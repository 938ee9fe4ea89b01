/**
 * The messages tabs.js passes between the tabs of one browser, and their shapes.
 *
 * Any same-origin script can post on a BroadcastChannel of any name, and an older or newer
 * shim in another tab may speak another dialect, so every message is checked field by
 * field before it is acted on; one of the wrong shape is ignored. A message that passes
 * carries only what tabs.js reads, so nothing else a sender added goes further.
 *
 * The shared channel (every tab and the holder):
 *   hub   → all   {t: "hub", hub}                      a holder is alive (on start and every beat)
 *   tab   → hub   {t: "hello", tab, hub, want, connected}
 *                 {t: "want", tab, on}   {t: "bye", tab}
 * A holder/tab pair's channel (the holder's hub id and the tab's id in its name):
 *   tab   → hub   {t: "emit", ev, args, id}            subscribe (with the tab's token), …
 *   hub   → tab   {t: "up", sock, ping}  {t: "down", reason}  {t: "ev", ev, args}  {t: "ack", id, args}
 */

import { toVersion } from "./options.js";

// What a tab may ask the holder to send on the socket: what the shim emits.
const TAB_EVENTS = new Set(["subscribe", "unsubscribe", "tabs", "report"]);
// What the holder passes to a tab.
const HUB_EVENTS = new Set(["stale", "expired", "mode", "drain", "ping", "connect_error"]);
// Ids are newId()'s base-36 strings; a hub id of "" in hello means none known yet.
const ID = /^[0-9a-z]{1,32}$/;
// No shim asks for more topics in one subscribe than the node would grant (--max-topics is
// far below): a bound keeps a junk message from costing the holder a long loop.
const MAX_TOPICS = 10000;

export function isId(x) {
  return typeof x === "string" && ID.test(x);
}

function isObject(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

// A version as the shim reads one.
function isVersion(x) {
  return toVersion(x) !== null;
}

function isAckId(x) {
  return Number.isSafeInteger(x) && x >= 0;
}

function isTopics(x) {
  if (!isObject(x)) return false;
  const keys = Object.keys(x);
  return keys.length <= MAX_TOPICS && keys.every((t) => isVersion(x[t]));
}

function isStrings(x) {
  return Array.isArray(x) && x.length <= MAX_TOPICS && x.every((t) => typeof t === "string");
}

// Each event's arguments as the shim sends them (tab → hub) or the node does (hub → tab).
const TAB_ARGS = {
  subscribe: (a) => a.length === 1 && isObject(a[0]) && typeof a[0].token === "string" && isTopics(a[0].topics),
  unsubscribe: (a) => a.length === 1 && isStrings(a[0]),
  tabs: (a) => a.length === 1 && isObject(a[0]) && (a[0].visible === 0 || a[0].visible === 1),
  report: (a) => a.length === 1 && isObject(a[0]),
};
const HUB_ARGS = {
  stale: (a) => (a.length === 1 || (a.length === 2 && isObject(a[1]))) && isTopics(a[0]),
  expired: (a) => a.length === 1 && isObject(a[0]) && isStrings(a[0].topics),
  mode: (a) => a.length === 1 && isObject(a[0]),
  drain: (a) => a.length === 1 && isObject(a[0]),
  ping: (a) => a.length === 0,
  connect_error: (a) => a.length <= 1,
};

// onShared reads a message on the shared channel as the holder or a tab gets it.
export function onShared(m) {
  if (!isObject(m)) return null;
  switch (m.t) {
    case "hub":
      return isId(m.hub) ? { t: "hub", hub: m.hub } : null;
    case "hello":
      return isId(m.tab) && (m.hub === "" || isId(m.hub)) && typeof m.want === "boolean" && typeof m.connected === "boolean"
        ? { t: "hello", tab: m.tab, hub: m.hub, want: m.want, connected: m.connected }
        : null;
    case "want":
      return isId(m.tab) && typeof m.on === "boolean" ? { t: "want", tab: m.tab, on: m.on } : null;
    case "bye":
      return isId(m.tab) ? { t: "bye", tab: m.tab } : null;
    default:
      return null;
  }
}

// fromTab reads a message the holder gets on a pair's channel.
export function fromTab(m) {
  if (!isObject(m) || m.t !== "emit" || !TAB_EVENTS.has(m.ev) || !Array.isArray(m.args) || !isAckId(m.id)) return null;
  return TAB_ARGS[m.ev](m.args) ? { t: "emit", ev: m.ev, args: m.args, id: m.id } : null;
}

// fromHub reads a message a tab gets on its pair's channel.
export function fromHub(m) {
  if (!isObject(m)) return null;
  switch (m.t) {
    case "up":
      return typeof m.sock === "string" && (m.ping === undefined || (typeof m.ping === "number" && m.ping >= 0)) ? { t: "up", sock: m.sock, ping: m.ping } : null;
    case "down":
      return typeof m.reason === "string" ? { t: "down", reason: m.reason } : null;
    case "ev":
      return HUB_EVENTS.has(m.ev) && Array.isArray(m.args) && HUB_ARGS[m.ev](m.args) ? { t: "ev", ev: m.ev, args: m.args } : null;
    case "ack":
      return isAckId(m.id) && m.id > 0 && Array.isArray(m.args) ? { t: "ack", id: m.id, args: m.args } : null;
    default:
      return null;
  }
}
