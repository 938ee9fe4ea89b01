// Package socketio is the socket.io server: the only package that touches
// go-socket.io. Callers get a Server (an http.Handler with Serve, Count,
// CloseAll and Close), a Conn per connection (ID, handshake Header, Send of
// one socket.io packet, Close) and a Handler for connect, disconnect and
// client events with acks; no go-socket.io type crosses this boundary.
//
// Two protocol versions are served side by side, told apart by the EIO
// query parameter: socket.io 2 clients (Engine.IO 3, socket.io protocol 4)
// and socket.io 3/4 clients (Engine.IO 4, socket.io protocol 5).
//
// go-socket.io v1.7.0 is archived, speaks Engine.IO 3 only, and is unsafe as
// shipped. For EIO=3 this package uses its Engine.IO server (handshakes,
// sessions, heartbeats, the upgrade from long-polling) only through its
// extension points (transports, session ids, the request checker, the
// session's reader and writer), closes its holes at the edge, and reads
// socket.io packets itself. EIO=4 runs on our own engine (eio4.go,
// session4.go) over the same Guard, websocket transport and packet layer:
//
//	browser
//	   │ HTTP  /socket.io/?EIO=3|4&transport=polling|websocket[&sid=…]
//	   ▼
//	Guard ─────────────── origin (403, before any session exists), CORS for
//	   │                  allowed origins, no JSONP, EIO 3 and 4 only, POST
//	   │                  bodies capped (413), 503 for new handshakes when
//	   │                  full/draining
//	   │
//	   ├─ forward ─────── a polling request for a session another node owns
//	   │                  goes to that node, once (no sticky sessions needed)
//	   ▼
//	engine4 (EIO=4) ───── server pings, \x1e payloads, the probe upgrade; its
//	   │                  websockets are the same websocketTransport's
//	engineio.Server ───── (EIO=3) sessions with ids of the node id and 128 random bits
//	   │
//	   ├─ pollingTransport  wraps the library's long-polling payload: bodies
//	   │                    read whole, each packet checked, pause/resume
//	   │                    without busy loops, a client that vanishes after
//	   │                    the handshake still gets its session removed
//	   └─ websocketTransport gorilla's handshake, then our own frames: reads
//	                        bounded from the headers, no goroutine on an idle
//	                        socket (an epoll poller wakes it), whole-frame
//	                        writes under a deadline, slow sockets closed and
//	                        counted, no goroutine or timer per frame
//	   ▼
//	inspect ───────────── every Engine.IO MESSAGE is looked at before the
//	   │                  session sees it: binary packets and attachment
//	   │                  headers close the connection
//	   ▼
//	packet layer ──────── one dispatcher per connection reads its packets,
//	   │                  one at a time, parking while a websocket is idle:
//	   │                  CONNECT written (EIO=3) or answered with its auth
//	   │                  checked (EIO=4), events split without reflection,
//	   │                  acks written back, anything else ends it
//	   ▼
//	Handler (Connect, Disconnect, Events, Calls)
//
// go-socket.io's own socket.io layer (rooms, broadcast, the Redis adapter,
// its parser) is not used: it ran three goroutines per connection and
// decoded events by reflection on the reader, and its parser trusts a
// packet's attachment count. Writes go the other way as whole frames:
// Conn.Send writes a websocket frame to the connection that carries the
// session, or hands the packet to the session's writer for long-polling.
//
// Our protocol carries JSON only, so anything binary from a client is refused.
// Refusals are reported through Config.OnReject by a short reason and logged
// at a bounded rate.
package socketio
