// The browser build's stand-ins for socket.io-client's packet codecs (slim/) against the
// packages they replace: the same text on the wire for every packet the shim and the
// notifier exchange, the same packets back, and refusals where the stand-in drops support.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as sioParser from "socket.io-parser";
import * as eioParser from "engine.io-parser";
import * as slimSio from "../slim/socket.io-parser.js";
import * as slimEio from "../slim/engine.io-parser.js";

const SIO_PACKETS = [
  { type: 0, nsp: "/" },
  { type: 0, nsp: "/", data: { token: "t" } },
  { type: 0, nsp: "/", data: { sid: "abc" } },
  { type: 1, nsp: "/" },
  { type: 2, nsp: "/", id: 3 },
  { type: 2, nsp: "/", data: ["stale", { "project:42": 1058 }, { spread: 4200 }] },
  { type: 2, nsp: "/", data: ["subscribe", { token: "é\u2028\"x", topics: { a: 1 } }], id: 12 },
  { type: 2, nsp: "/custom", data: ["mode", { mode: "push" }], id: 0 },
  { type: 3, nsp: "/", data: [{ granted: ["a"], denied: {} }], id: 12 },
  { type: 4, nsp: "/", data: { message: "not in token" } },
  { type: 4, nsp: "/", data: "refused" },
];

const decodeAll = (Decoder, texts) => {
  const d = new Decoder();
  const out = [];
  d.on("decoded", (p) => out.push(p));
  for (const t of texts) d.add(t);
  return out;
};

test("socket.io packets: encoded as socket.io-parser does, decoded to the same packets", () => {
  for (const p of SIO_PACKETS) {
    const want = new sioParser.Encoder().encode(p);
    assert.deepEqual(new slimSio.Encoder().encode(p), want, JSON.stringify(p));
    assert.deepEqual(decodeAll(slimSio.Decoder, want), decodeAll(sioParser.Decoder, want), want[0]);
  }
  assert.equal(slimSio.protocol, sioParser.protocol);
  assert.deepEqual(slimSio.PacketType, { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4, BINARY_EVENT: 5, BINARY_ACK: 6 });
});

test("socket.io packets the stand-in refuses, as socket.io-parser does or for binary", () => {
  // Each throws in both; socket.io-client closes with "parse error".
  for (const bad of ["9", "2[\"connect\"]", "2{\"a\":1}", "3{}", "1[1]", "0\"s\"", "2[\"x\"", "4[1]"]) {
    assert.throws(() => decodeAll(sioParser.Decoder, [bad]), `socket.io-parser accepts ${bad}`);
    assert.throws(() => decodeAll(slimSio.Decoder, [bad]), `stand-in accepts ${bad}`);
  }
  for (const binary of ["51-[\"ev\",{\"_placeholder\":true,\"num\":0}]", "61-[{\"_placeholder\":true,\"num\":0}]"]) {
    assert.doesNotThrow(() => decodeAll(sioParser.Decoder, [binary]));
    assert.throws(() => decodeAll(slimSio.Decoder, [binary]), /invalid socket.io packet/);
  }
  assert.throws(() => decodeAll(slimSio.Decoder, [new Uint8Array([1])]), /binary socket.io packets are not supported/);
});

test("Engine.IO packets and long-polling payloads: as engine.io-parser makes and reads them", () => {
  const packets = [
    { type: "open", data: '{"sid":"x","pingInterval":25000}' },
    { type: "close" },
    { type: "ping" },
    { type: "pong", data: "probe" },
    { type: "message", data: '2["stale",{"a":1}]' },
    { type: "upgrade" },
    { type: "noop" },
  ];
  for (const p of packets) {
    let want, got;
    eioParser.encodePacket(p, true, (e) => (want = e));
    slimEio.encodePacket(p, true, (e) => (got = e));
    assert.equal(got, want);
    assert.deepEqual(slimEio.decodePacket(want), eioParser.decodePacket(want, "arraybuffer"));
  }
  let payload, slimPayload;
  eioParser.encodePayload(packets, (s) => (payload = s));
  slimEio.encodePayload(packets, (s) => (slimPayload = s));
  assert.equal(slimPayload, payload);
  assert.deepEqual(slimEio.decodePayload(payload), eioParser.decodePayload(payload, "arraybuffer"));
  assert.equal(slimEio.protocol, eioParser.protocol);
  // Unknown types are parser errors in both, and a payload stops at the first.
  for (const bad of ["", "7", "x", "4\u001e9\u001e4a"]) assert.deepEqual(slimEio.decodePayload(bad), eioParser.decodePayload(bad, "arraybuffer"), bad);
  // Binary: the stand-in refuses what engine.io-parser would turn into an ArrayBuffer.
  assert.deepEqual(slimEio.decodePacket("bAQID"), { type: "error", data: "parser error" });
  assert.deepEqual(slimEio.decodePacket(new ArrayBuffer(2)), { type: "error", data: "parser error" });
});
