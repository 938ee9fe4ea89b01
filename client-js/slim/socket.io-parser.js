// The socket.io protocol 5 packet codec for the browser build: text packets only. The
// notifier sends no binary packets and the shim emits none, so socket.io-parser's
// attachment handling (and its scan of every emitted value for binary data) stays out.
// A binary packet from the server is refused like any malformed packet: socket.io-client
// closes the connection with "parse error".
import { Emitter } from "@socket.io/component-emitter";

export const protocol = 5;

export const PacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
};

// Event names the client side keeps for itself; a server event by these names is invalid.
const RESERVED = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

// <type>[<namespace>,][<ack id>][<JSON data>]; the default namespace "/" is left out.
export class Encoder {
  encode(packet) {
    let s = String(packet.type);
    if (packet.nsp && packet.nsp !== "/") s += packet.nsp + ",";
    if (packet.id != null) s += packet.id;
    if (packet.data !== undefined) s += JSON.stringify(packet.data);
    return [s];
  }
}

const isObject = (v) => Object.prototype.toString.call(v) === "[object Object]";

function valid(type, data) {
  switch (type) {
    case PacketType.CONNECT:
      return isObject(data);
    case PacketType.DISCONNECT:
      return data === undefined;
    case PacketType.CONNECT_ERROR:
      return typeof data === "string" || isObject(data);
    case PacketType.EVENT:
      return Array.isArray(data) && (typeof data[0] === "number" || (typeof data[0] === "string" && RESERVED.indexOf(data[0]) < 0));
    default:
      return Array.isArray(data); // ACK
  }
}

// Decodes each packet as it comes and emits it as "decoded". Throws where socket.io-parser
// would, and on binary packets; socket.io-client's Manager closes with "parse error".
export class Decoder extends Emitter {
  add(str) {
    if (typeof str !== "string") throw new Error("pushpoll: binary socket.io packets are not supported");
    const p = { type: Number(str.charAt(0)), nsp: "/" };
    if (!(p.type >= PacketType.CONNECT && p.type <= PacketType.CONNECT_ERROR)) throw new Error("pushpoll: invalid socket.io packet");
    let i = 1;
    if (str.charAt(i) === "/") {
      const end = str.indexOf(",", i);
      p.nsp = end < 0 ? str.slice(i) : str.slice(i, end);
      i = end < 0 ? str.length : end + 1;
    }
    const digits = /^\d*/.exec(str.slice(i))[0];
    if (digits !== "") p.id = Number(digits);
    i += digits.length;
    if (i < str.length) {
      try {
        p.data = JSON.parse(str.slice(i));
      } catch (err) {
        throw new Error("pushpoll: invalid socket.io payload", { cause: err });
      }
      if (!valid(p.type, p.data)) throw new Error("pushpoll: invalid socket.io payload");
    }
    this.emit("decoded", p);
  }

  destroy() {}
}
