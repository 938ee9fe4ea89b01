package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/pushpoll/pushpoll/internal/asset"
)

// Topic is the one topic the demo publishes: the whole board.
const Topic = "board:demo"

// maxBumpBody caps a bump request: {"card":"<id>"} is a few dozen bytes.
const maxBumpBody = 1 << 10

// Config is what the demo needs from the notifier it runs beside.
type Config struct {
	TokenSecret string // HS256 secret the notifier verifies with; empty: no tokens (the page polls only)
	Audience    string // the aud the notifier requires; default "pushpoll"
	// Publish raises the topic's version and hints subscribers. Nil: bumps
	// are never announced, and other tabs see them at their next poll.
	Publish    func(ctx context.Context, topic string, v int64) error
	Fast, Slow time.Duration // the notifier's poll intervals, shown on the page; default 5s and 60s
	Logger     *slog.Logger
}

// App is the demo app: an in-memory board, its poll endpoint, a token
// endpoint and the page that shows the shim at work.
type App struct {
	cfg    Config
	log    *slog.Logger
	board  *board
	ann    *announcer
	page   asset.File
	assets map[string]asset.File
	now    func() time.Time // the clock; tests replace it
}

// New builds the demo app. It never fails: a missing secret or Publish
// leaves a demo that still polls, and says so in the log.
func New(cfg Config) *App {
	if cfg.Audience == "" {
		cfg.Audience = "pushpoll"
	}
	if cfg.Fast <= 0 {
		cfg.Fast = 5 * time.Second
	}
	if cfg.Slow <= 0 {
		cfg.Slow = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "demo")
	a := &App{cfg: cfg, log: log, board: newBoard(), now: time.Now}
	publish := cfg.Publish
	if publish == nil {
		log.Warn("demo has no publish function; bumps reach other tabs only through their polls")
		publish = func(context.Context, string, int64) error { return errNoPublish }
	}
	if cfg.TokenSecret == "" {
		log.Warn("demo has no token secret; pages cannot subscribe and will poll at the fast interval")
	}
	a.ann = &announcer{board: a.board, publish: publish}
	a.page = renderPage(cfg.Fast, cfg.Slow)
	a.assets = map[string]asset.File{
		"/demo/app.js":    asset.New(appJS, "text/javascript; charset=utf-8"),
		"/demo/style.css": asset.New(styleCSS, "text/css; charset=utf-8"),
	}
	return a
}

var errNoPublish = errors.New("no publish function configured")

// Routes registers the demo's page, assets and API on r.
func (a *App) Routes(r *mux.Router) {
	r.HandleFunc("/", a.servePage).Methods(http.MethodGet, http.MethodHead)
	for path, as := range a.assets {
		r.HandleFunc(path, serveAsset(as)).Methods(http.MethodGet, http.MethodHead)
	}
	r.HandleFunc("/demo/api/board", a.handleBoard).Methods(http.MethodGet)
	r.HandleFunc("/demo/api/bump", a.handleBump).Methods(http.MethodPost)
	r.HandleFunc("/demo/api/token", a.handleToken).Methods(http.MethodGet)
}

// handleBoard is the app's poll endpoint: the whole board and its version.
func (a *App) handleBoard(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.board.snapshot(a.now()))
}

// bumpReply is the bump endpoint's answer. The page shows its own change
// from it at once, instead of waiting for its own hint and poll.
type bumpReply struct {
	Card    Card  `json:"card"`
	Version int64 `json:"version"` // board version after this bump
	// Published is false when the notifier could not be told; other tabs
	// then see the bump at their next poll, which is the safety net at work.
	Published bool  `json:"published"`
	Now       int64 `json:"now"`
}

func (a *App) handleBump(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Card string `json:"card"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBumpBody))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"card":"<id>"}`)
		return
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, "body must hold one JSON object")
		return
	}
	if req.Card == "" {
		writeError(w, http.StatusBadRequest, "card is required")
		return
	}
	card, version, ok := a.board.bump(req.Card, a.now())
	if !ok {
		writeError(w, http.StatusNotFound, "unknown card")
		return
	}
	// The bump has happened whatever the visitor does next, so its
	// announcement must not die with the request.
	err := a.ann.announce(context.WithoutCancel(r.Context()), version)
	if err != nil {
		a.log.Warn("publish failed", "topic", Topic, "version", version, "err", err)
	} else {
		a.log.Debug("bumped", "card", card.ID, "version", version)
	}
	writeJSON(w, http.StatusOK, bumpReply{Card: card, Version: version, Published: err == nil, Now: a.now().UnixMilli()})
}

// handleToken mints a token for the page's shim. It answers the bare token
// as text, the shape the shim's token option expects from r.text().
func (a *App) handleToken(w http.ResponseWriter, _ *http.Request) {
	tok, err := mintToken([]byte(a.cfg.TokenSecret), a.cfg.Audience, a.now())
	if errors.Is(err, errNoSecret) {
		writeError(w, http.StatusServiceUnavailable, "the demo cannot mint tokens: the notifier has no --token-secret")
		return
	}
	if err != nil {
		a.log.Error("minting a token", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot mint a token")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// A token is a credential: no cache may keep it or hand it to another visitor.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, tok)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Poll answers must come from the app every time, or a hinted poll could
	// be answered from a cache with the very data it was told is stale.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
