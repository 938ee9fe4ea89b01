// engine.io-client's transports, as the browser build has them: websocket and HTTP
// long-polling. WebTransport, which the notifier does not serve, is left out.
import { WS } from "engine.io-client/build/esm/transports/websocket.js";
import { Fetch } from "engine.io-client/build/esm/transports/polling-fetch.js";

export const transports = { websocket: WS, polling: Fetch };
