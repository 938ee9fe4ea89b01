// Package socketio is the socket.io server: the only package that touches
// go-socket.io. Callers get a Server (an http.Handler with Serve, Count,
// CloseAll and Close), a Conn per connection (ID, handshake Header, Send of
// one socket.io packet, Close) and a Handler for connect, disconnect and
// client events with acks; no go-socket.io type crosses this boundary.
//
// go-socket.io v1.7.0 is archived and unsafe as shipped. This package uses it
// only through its extension points (transports, session ids, namespace
// handlers, the session's NextWriter) and closes its holes at the edge:
//
//	browser
//	   │ HTTP  /socket.io/?EIO=3&transport=polling|websocket[&sid=…]
//	   ▼
//	Guard ─────────────── origin (403, before any session exists), CORS for
//	   │                  allowed origins, no JSONP, EIO 3 only, POST bodies
//	   │                  capped (413), 503 for new handshakes when full/draining
//	   │
//	   ├─ forward ─────── a polling request for a session another node owns
//	   │                  goes to that node, once (no sticky sessions needed)
//	   ▼
//	engineio.Server ───── sessions with ids of the node id and 128 random bits
//	   │
//	   ├─ pollingTransport  wraps the library's long-polling payload: bodies
//	   │                    read whole, each packet checked, pause/resume
//	   │                    without busy loops, a client that vanishes after
//	   │                    the handshake still gets its session removed
//	   └─ websocketTransport our own gorilla conn: bounded reads, whole-frame
//	                        writes under a deadline, slow sockets closed and
//	                        counted, no goroutine or timer per frame
//	   ▼
//	inspect ───────────── every Engine.IO MESSAGE is looked at before the
//	   │                  socket.io parser sees it: binary packets and
//	   │                  attachment headers close the connection
//	   ▼
//	go-socket.io's socket.io layer ──► Handler (Connect, Disconnect, Events, Calls)
//
// Writes go the other way without the library's Emit: Conn.Send hands an
// encoded packet to the session's NextWriter, which picks the transport the
// session uses now.
//
// Our protocol carries JSON only, so anything binary from a client is refused.
// Refusals are reported through Config.OnReject by a short reason and logged
// at a bounded rate.
package socketio
