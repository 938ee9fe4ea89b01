// Package notifier is a pushpoll node: it tells browser sockets "you are
// stale, poll now" when the app publishes a version bump.
//
//	app ── EVAL publish.lua / PUBLISH pushpoll:<topic> {"v":N} ──► Redis
//	                                                                 │
//	subscriber (subscriber.go: one connection per link, SUBSCRIBE or ◄┘
//	  SSUBSCRIBE per held topic, PING + canary probes; its owner is
//	  RedisBroker, or one shardLink per cluster shard)
//	  │ Message(topic, payload)     │ Link(LinkEvent) / Flag(mode)
//	  ▼                             ▼
//	Server.Message: ParsePayload    linkTrust (trust.go): the topics'
//	  ──► hintThrottle ──►          Epoch moves on, poll while down,
//	  hub.fanOut(topic, v)          resync spread over ResyncSpread, push
//	    │ copies the holders, frames the hint once, then for each:
//	    ▼
//	socket.hint: coalescing mailbox (topic → newest version, bounded by the
//	  socket's topics) ──► writerPool queue ──► one writer per core:
//	  socketio.Conn.TrySend, never waiting ──► internal/socketio ──► browser
//	      └─ kernel buffer full, or long-polling: the socket's own goroutine,
//	         Flush then Send, until its mailbox is empty (writer.go)
//
// Browsers arrive through internal/socketio (the one package that uses
// go-socket.io 1.7.0: its Engine.IO server on our transports, which refuse
// hostile input, under our own socket.io packet layer), then onConnect
// registers a socket and onSubscribe (socketEvents, events.go) asks
// authbridge which topics it may hold, joins them in the hub, which tells
// the broker, and catches the socket up from the version table. Without Redis, LocalBroker plays
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
