// What socket.io-client 4 takes from engine.io-client, without the package index, which
// loads every transport (XHR polling's module runs code as it loads, so it would stay in
// the bundle unused). url.js's parse comes along.
export { Socket } from "engine.io-client/build/esm/socket.js";
export { installTimerFunctions } from "engine.io-client/build/esm/util.js";
export { nextTick } from "engine.io-client/build/esm/globals.js";
export { parse } from "engine.io-client/build/esm/contrib/parseuri.js";
