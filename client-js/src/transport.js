/**
 * The only code that creates a socket or listens to one. The rest of the shim needs a
 * socket-like object (on, off, emit, connect, disconnect, close) that fires the events of
 * `handlers`, so another source of those events can take the socket's place here: with
 * `share`, a TabSocket (tabs.js). The transport policy rides on `open`: whichever tab
 * creates the real socket.io-client 4 socket (Engine.IO 4) with it applies the policy.
 */
import { io } from "socket.io-client";
import { createTabs } from "./tabs.js";

// socket.io's reconnect: a 30 s ceiling and ±50 % randomization, instead of the 5 s
// default, so a node's death does not bring its sockets back in synchronized waves.
const RECONNECT = { reconnectionDelay: 1000, reconnectionDelayMax: 30000, randomizationFactor: 0.5 };
// Websocket attempts that must fail in a row before long-polling is tried, and how long a
// notifier that could only be reached by long-polling is remembered.
const WS_TRIES = 3;
const REMEMBER_POLLING = 3600000;
const STORE_PREFIX = "pushpoll:polling-only:";

// This document's sharing scope, made on first use so that importing touches nothing.
// Only pages share: elsewhere (a worker, Node) there are no tabs, and code that runs many
// shims in one process, such as a simulator, must not have them share a socket by accident.
let documentTabs = null;
function tabsOfDocument() {
  if (typeof document === "undefined") return null;
  if (documentTabs === null) documentTabs = createTabs();
  return documentTabs;
}

/**
 * Opens the page's socket: a shared one (tabs.js) where `share` allows, else its own.
 * @param {any} o the options
 * @param {(err: unknown) => void} warn
 * @returns {{socket: any, release: () => void}}
 */
export function openSocket(o, warn) {
  const chosen = o.transports || (o.socketOptions && o.socketOptions.transports);
  const store = chosen ? null : storage();
  const key = STORE_PREFIX + origin(o.url);
  const open = () => {
    const opts = Object.assign({ forceNew: true }, RECONNECT);
    if (chosen) {
      opts.transports = chosen;
    } else {
      opts.transports = [rememberedPolling(store, key) ? "polling" : "websocket"];
      opts.upgrade = false;
    }
    Object.assign(opts, o.socketOptions);
    const socket = (o.io || io)(o.url, opts);
    return { socket, release: chosen ? () => {} : websocketFirst(socket, store, key, warn) };
  };
  // The tab that comes to hold a shared socket opens it, and closes it when it steps down.
  const scope = o.share && (o.tabs || tabsOfDocument());
  const shared = scope && scope.socket(o.url + " " + JSON.stringify([chosen, o.socketOptions]), () => open().socket);
  return shared ? { socket: shared, release() {} } : open();
}

// Calls handlers[ev] for every event the socket fires until the returned function is
// called, and never after `stopped()` says so.
export function wire(socket, handlers, stopped) {
  const listeners = [];
  for (const ev of Object.keys(handlers)) {
    const fn = (...args) => {
      if (!stopped()) handlers[ev](...args);
    };
    listeners.push([ev, fn]);
    socket.on(ev, fn);
  }
  return () => {
    for (const [ev, fn] of listeners) socket.off(ev, fn);
  };
}

// Websocket first, because long-polling needs session affinity behind most balancers and
// websocket does not. Only after WS_TRIES failed attempts in a row (a proxy that refuses
// the upgrade, or blocks websockets) does the manager's next attempt use long-polling, and
// when that connects, the notifier is remembered as polling-only. A notifier that is just
// down fails both ways, so the transports alternate and nothing is remembered; once a
// websocket has worked, failures are outages, and the transport stays. socket.io-client's
// Manager hands its opts to every new Engine.IO socket, so a change applies to the next
// attempt.
function websocketFirst(socket, store, key, warn) {
  const manager = socket.io;
  if (!manager || !manager.opts) return () => {}; // not socket.io-client's socket: nothing to steer
  let failures = 0;
  let fellBack = false;
  let websocketWorked = false;
  const onError = () => {
    if (websocketWorked || ++failures < WS_TRIES) return;
    failures = 0;
    const next = manager.opts.transports[0] === "websocket" ? "polling" : "websocket";
    manager.opts.transports = [next];
    fellBack = next === "polling";
  };
  const onConnect = () => {
    failures = 0;
    if (manager.opts.transports[0] === "websocket") websocketWorked = true;
    if (!fellBack) return;
    fellBack = false;
    warn(new Error("pushpoll: websocket could not be opened; using long-polling for this notifier"));
    try {
      if (store) store.setItem(key, String(Date.now() + REMEMBER_POLLING));
    } catch (_) {
      // A full or refused storage only means the next page load tries websocket again.
    }
  };
  return wire(socket, { connect_error: onError, connect: onConnect }, () => false);
}

// localStorage where the page may use it; reading it throws in some sandboxed frames.
function storage() {
  try {
    return typeof localStorage !== "undefined" ? localStorage : null;
  } catch (_) {
    return null;
  }
}

function rememberedPolling(store, key) {
  try {
    const until = store ? store.getItem(key) : null;
    if (until === null) return false;
    if (Number(until) > Date.now()) return true;
    store.removeItem(key); // expired, or not ours to make sense of
  } catch (_) {
    // As if nothing were stored.
  }
  return false;
}

function origin(url) {
  try {
    return new URL(url).origin;
  } catch (_) {
    return String(url);
  }
}
