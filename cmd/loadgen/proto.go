package main

// The coordinator drives its workers (in-process, or `loadgen worker`
// children when one process cannot hold every socket) with one JSON command
// per line on the worker's stdin, and reads one JSON reply per line from its
// stdout. The same types carry both directions in the in-process case.

// command is coordinator → worker.
type command struct {
	Cmd string `json:"cmd"` // start | bump | stats | final | await | quit

	Config *workerConfig `json:"config,omitempty"` // start

	Topic  string `json:"topic,omitempty"`   // bump
	V      int64  `json:"v,omitempty"`       // bump
	WaitMS int64  `json:"wait_ms,omitempty"` // bump, await: how long to wait for completeness
	// Drop (await): first wait for a connection to end. A killed node's
	// sockets are closed by the kernel over a few hundred milliseconds;
	// without this, an await right after the kill sees everyone still up.
	Drop bool `json:"drop,omitempty"`

	Versions map[string]int64 `json:"versions,omitempty"` // final: the last version of each topic
	// Published (final, sustained runs): every version published per topic,
	// in order, so that workers can tell which bumps each hint brought news
	// of.
	Published map[string][]int64 `json:"published,omitempty"`
}

// workerConfig is everything a worker needs to build its share of sockets.
type workerConfig struct {
	ID int `json:"id"`
	// URLs are the notifier nodes; socket j first dials URLs[j%len].
	URLs []string `json:"urls"`
	// RetryURLs are where reconnects go, from a random one on.
	RetryURLs []string `json:"retry_urls"`
	// First and N are the worker's global socket indices [First, First+N).
	First  int     `json:"first"`
	N      int     `json:"n"`
	Run    string  `json:"run"`
	Groups []group `json:"groups"`

	SrcBase string `json:"src_base"`
	PerIP   int    `json:"per_ip"`
	// Polling is the share of sockets on long-polling instead of websocket.
	Polling float64 `json:"polling"`
	// EIO is the Engine.IO version the sockets speak: 3 or 4 (websocket
	// only).
	EIO   int    `json:"eio"`
	Token string `json:"token"`

	DialConcurrency    int   `json:"dial_concurrency"`
	HandshakeTimeoutMS int64 `json:"handshake_timeout_ms"`
	// Reconnect makes a socket come back (after a jittered backoff, as
	// socket.io-client does) whenever its connection ends.
	Reconnect      bool    `json:"reconnect"`
	ReconnectMinMS int64   `json:"reconnect_min_ms"`
	ReconnectMaxMS int64   `json:"reconnect_max_ms"`
	Jitter         float64 `json:"jitter"`
	// PerBump keeps a histogram per published version, for per-bump
	// reports; sustained runs keep only the aggregate, and log every hint
	// that raised a version instead (see worker.news).
	PerBump bool `json:"per_bump"`
}

// reply is worker → coordinator.
type reply struct {
	Type   string `json:"type"` // progress | ready | bump | stats | final | await | bye | error
	Worker int    `json:"worker"`
	Error  string `json:"error,omitempty"`

	// progress, ready, stats, await
	Sockets    int    `json:"sockets,omitempty"`
	Up         int    `json:"up"`
	Failed     int    `json:"failed,omitempty"`
	FirstErr   string `json:"first_err,omitempty"`
	Reconnects int64  `json:"reconnects,omitempty"`
	DialErrors int64  `json:"dial_errors,omitempty"`
	PID        int    `json:"pid,omitempty"`

	// bump
	Topic   string `json:"topic,omitempty"`
	V       int64  `json:"v,omitempty"`
	Holders int    `json:"holders,omitempty"`
	Reached int    `json:"reached,omitempty"`
	Missing int    `json:"missing,omitempty"`

	// stats: hints that raised a socket's version, hints for a version
	// it already had, and v=0 hints.
	Delivered int64 `json:"delivered,omitempty"`
	Dup       int64 `json:"dup,omitempty"`
	Zero      int64 `json:"zero,omitempty"`

	// final: sockets left behind the last version of one of their topics.
	Lost int `json:"lost,omitempty"`
	// final, sustained runs: bumps whose news reached a holder (a hint of
	// that version or a newer one), and how stale each was when it did.
	News     int64   `json:"news,omitempty"`
	NewsHist *sparse `json:"news_hist,omitempty"`

	// await: unix µs of the first disconnect and of the last socket back
	// (connected and subscribed).
	FirstDownUS int64 `json:"first_down_us,omitempty"`
	LastUpUS    int64 `json:"last_up_us,omitempty"`

	Hist *sparse `json:"hist,omitempty"`
}
