// Package sioclient is a small socket.io 2.x client (Engine.IO 3,
// socket.io protocol v4) for the notifier's integration tests, hostile-input
// tests and load generator. It speaks to the default namespace only. With
// Options.EIO 4 it speaks Engine.IO 4 / socket.io protocol 5 over websocket
// (CONNECT with an optional auth payload, pongs to the server's pings).
//
//	Dial ── websocket: GET ?EIO=3&transport=websocket ─► "0{open}" ─► "40"
//	     └─ polling:   GET ?EIO=3&transport=polling&b64=1 ─► "0{open}", GET ─► "40"
//	                   [Upgrade: ws+sid "2probe"/"3probe", stop polling, "5"]
//
//	per connection, while it is up:
//	  reader goroutine ── websocket frames, or one outstanding GET at a time
//	        │  "42[name,args]" ─► OnEvent(ev) or Events() (blocks when full)
//	        │  "43<id>[args]"  ─► the EmitAck waiting for that id
//	        │  "3" (pong)      ─► re-arms the ping timer
//	        └─ "1", "41", read error ─► connection ends: Done(), Err()
//	  ping timer (time.AfterFunc, no goroutine while idle) ── "2" every pingInterval
//	  sends ── websocket: written by the caller under a mutex
//	        └─ polling:   queued; a short-lived flusher POSTs them in order
//
// Per-connection cost is one goroutine and one timer on websocket; polling
// adds net/http's goroutines for its two keep-alive connections and a
// flusher while sends are pending.
//
// The wire details follow go-socket.io 1.7.0, the server this client is
// for: polling payload lengths count bytes (JavaScript counts UTF-16 units),
// each poll answer carries one packet, and the server never pings.
package sioclient
