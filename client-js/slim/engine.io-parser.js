// The Engine.IO 4 packet codec for the browser build: text packets only, the only kind the
// notifier sends and the shim writes (slim/socket.io-parser.js makes no binary packet). A
// binary frame or a base64 ("b") packet decodes as a parser error, which engine.io-client
// treats as a server error and closes on.
export const protocol = 4;

const TYPES = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
const ERROR = { type: "error", data: "parser error" };
// HTTP long-polling joins the packets of one request with the ASCII record separator.
const SEPARATOR = "\x1e";

export function encodePacket(packet, _supportsBinary, callback) {
  return callback(TYPES.indexOf(packet.type) + (packet.data || ""));
}

export function decodePacket(encoded) {
  if (typeof encoded !== "string") return ERROR;
  const type = TYPES[encoded.charAt(0)];
  if (!type) return ERROR;
  return encoded.length > 1 ? { type, data: encoded.slice(1) } : { type };
}

export function encodePayload(packets, callback) {
  const out = [];
  for (const p of packets) encodePacket(p, false, (e) => out.push(e));
  callback(out.join(SEPARATOR));
}

export function decodePayload(payload) {
  const out = [];
  for (const encoded of payload.split(SEPARATOR)) {
    const p = decodePacket(encoded);
    out.push(p);
    if (p.type === "error") break;
  }
  return out;
}
