/**
 * Where a socket's heartbeat is heard, whatever carries it. Engine.IO 4 has the server
 * ping; socket.io-client 4 reports each ping as a `ping` event of its Manager (socket.io),
 * not of the socket. A TabSocket (tabs.js), and the simulators' sockets, fire `ping` on
 * the socket itself.
 */

/** The object whose `ping` events are the server's heartbeat. @param {any} socket */
export function heartbeatSource(socket) {
  const manager = socket.io;
  return manager && typeof manager.on === "function" ? manager : socket;
}

/**
 * The ping interval the server announced in its handshake, or undefined before one.
 * socket.io-client 4 keeps it in the engine's `_pingInterval` (the pinned version, checked
 * by the e2e tests); a TabSocket relays it as `pingInterval`.
 * @param {any} socket
 */
export function pingInterval(socket) {
  const engine = socket && socket.io && socket.io.engine;
  if (!engine) return undefined;
  return engine.pingInterval !== undefined ? engine.pingInterval : engine._pingInterval;
}
