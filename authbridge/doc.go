// Package authbridge decides which topics a subscriber may receive hints for.
//
// Authorization stays in the main app; this package only checks what the app
// already decided, in one of two ways:
//
//	subscribe {token, topics}          subscribe {topics}, no token
//	        │                                   │
//	        ▼                                   ▼
//	 token mode: verify the JWT the      callback mode: cache hit for this
//	 app minted (one algorithm, pinned   Cookie+Authorization? else one POST
//	 by the configured key), then match  to the app (shared by concurrent
//	 the topics against its "topics"     subscribes with that credential),
//	 claim                               then match against the app's answer
//	        │                                   │
//	        └──────────────►  Decision  ◄───────┘
//	              Granted, Denied (topic → reason), Expires
//
// A grant pattern is an exact topic ("project:42") or a prefix ending in "*"
// ("user:7:*"). A prefix covers topics that continue past it: "acct:*" covers
// "acct:1" but neither "acct" nor "acct:" nor "acctx:2". A bare "*" would grant
// every topic there is, which is far more often a mistake in the app than an
// intent, so it grants nothing; an app that wants broad access lists one
// prefix per namespace.
//
// In callback mode the app's answer is cached per credential for its ttl
// (at most an hour) and matched against later subscribes with other topics,
// so the app should answer with everything the credential may receive, not
// only the topics it was asked about. An answer without a ttl (absent, 0 or
// less) lasts --auth-callback-ttl, so every callback grant expires. A 4xx answer denies with "not authorized"; a
// timeout, a refused connection, a 5xx or an unreadable answer denies with
// "auth unavailable"; neither is cached. A subscribe that carries a token
// never reaches the callback when a token key is configured.
//
// Denial reasons are short stable strings meant for the client: the Error
// texts of ErrNoToken, ErrMalformedToken, ErrBadSignature, ErrExpired,
// ErrNotYetValid, ErrWrongAudience, ErrMissingClaim, ErrNotInToken,
// ErrNotAuthorized and ErrAuthUnavailable. The package knows nothing of
// socket.io and never logs tokens or cookies.
package authbridge
