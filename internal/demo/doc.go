// Package demo is the live demo app that `notifier --demo` serves next to the
// notifier, on the same listener. It plays the part of "the main app": it owns
// some data, a poll endpoint and the tokens, and it publishes a version
// whenever its data changes. The notifier only relays hints.
//
//	browser tab                      demo app (this package)          notifier
//	───────────                      ───────────────────────          ────────
//	GET /  ─────────────────────────► page (index.html, app.js)
//	GET /demo/api/board ────────────► cards + board version ─┐
//	PushPoll.start(...)                                       │
//	   GET /demo/api/token ─────────► JWT {topics:[board:demo]}
//	   socket.io subscribe {board:demo: v} ──────────────────────────────► grants
//	POST /demo/api/bump {card} ─────► count++, version++ ──► Publish("board:demo", v)
//	                                                                        │
//	other tabs ◄──────────── stale {board:demo: v} ─────────────────────────┘
//	   GET /demo/api/board (after 0..jitter ms) ──► the new card
//
// The board lives in memory and starts empty on every run: the demo shows the
// protocol, not persistence.
package demo
