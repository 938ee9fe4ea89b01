// Package notifier is a pushpoll node: it tells browser sockets "you are
// stale, poll now" when the app publishes a version bump.
//
//	app ── EVAL publish.lua / PUBLISH pushpoll:<topic> {"v":N} ──► Redis
//	                                                                 │
//	RedisBroker (one subscriber connection; SUBSCRIBE per topic      │
//	  held here, PING + canary probes, resubscribe on reconnect) ◄───┘
//	  │ Message(topic, payload)           │ Link(up) / Flag(mode)
//	  ▼                                   ▼
//	Server.Message: ParsePayload ──► hub.fanOut(topic, v)    Server.Link: mode poll
//	                                   │ copies the holders,   to all, resync from the
//	                                   │ frames the hint once, version table, then push
//	                                   │ then for each:
//	                                   ▼
//	socket.hint: coalescing mailbox (topic → newest version, bounded by the
//	  socket's topics) ──► writerPool queue ──► one writer per core:
//	  socketio.Conn.TrySend, never waiting ──► internal/socketio ──► browser
//	      └─ kernel buffer full, or long-polling: the socket's own goroutine,
//	         Flush then Send, until its mailbox is empty (writer.go)
//
// Browsers arrive through internal/socketio (the one package that uses
// go-socket.io 1.7.0: its Engine.IO server on our transports, which refuse
// hostile input, under our own socket.io packet layer), then onConnect
// registers a socket and onSubscribe asks authbridge which topics it may
// hold. Without Redis, LocalBroker plays
// the broker's part in process. POST /v1/publish, /v1/admin/mode, /healthz,
// /readyz, /metrics and /pushpoll.js are served on the same listener.
//
// Between Server.Message and hub.fanOut, hintThrottle lets each topic fan
// out at most once per --hint-throttle window: the leading bump at once, the
// rest as one trailing fan-out of the newest version.
//
// Nothing on the path from broker to sockets waits for a socket: posting to
// a mailbox never blocks, and a socket that cannot take a write within the
// write deadline is closed (its client polls and reconnects).
package notifier
