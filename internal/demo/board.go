package demo

import (
	"sync"
	"time"
)

// Card is one counter on the board, as the poll endpoint shows it.
type Card struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Count int64  `json:"count"`
	// Version is the board version of this card's last bump (0: never
	// bumped), so a page can tell which cards changed since the version it
	// rendered.
	Version int64 `json:"version"`
	// BumpedAt is the server's clock at the last bump, in unix
	// milliseconds (0: never). Pages compare it with Snapshot.Now, never
	// with their own clock, so a skewed client clock cannot fake staleness.
	BumpedAt int64 `json:"bumpedAt"`
}

// Snapshot is the poll endpoint's answer: the whole board at one version.
type Snapshot struct {
	Version int64  `json:"version"`
	Cards   []Card `json:"cards"`
	Now     int64  `json:"now"` // server clock when the snapshot was taken, unix ms
}

// startCards is the board every run begins with. Six cards fill a 3×2 or
// 2×3 grid, and the names read like the things a real app would poll for.
var startCards = []Card{
	{ID: "deploys", Title: "Deploys"},
	{ID: "builds", Title: "Builds"},
	{ID: "tickets", Title: "Open tickets"},
	{ID: "reviews", Title: "Code reviews"},
	{ID: "signups", Title: "Sign-ups"},
	{ID: "alerts", Title: "Alerts"},
}

// board is the app's whole data set. One mutex covers it: every operation
// is a few field updates, far shorter than any request around it.
type board struct {
	mu      sync.Mutex
	version int64  // raised by one on every bump; the topic's version
	cards   []Card // display order
	index   map[string]int
}

func newBoard() *board {
	b := &board{cards: append([]Card(nil), startCards...), index: make(map[string]int, len(startCards))}
	for i, c := range b.cards {
		b.index[c.ID] = i
	}
	return b
}

// bump raises the board version, counts one more on the card and stamps it.
// It returns the card as changed and the new board version; ok is false
// for an unknown card, which changes nothing.
func (b *board) bump(id string, now time.Time) (card Card, version int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, ok := b.index[id]
	if !ok {
		return Card{}, b.version, false
	}
	b.version++
	c := &b.cards[i]
	c.Count++
	c.Version = b.version
	c.BumpedAt = now.UnixMilli()
	return *c, b.version, true
}

// snapshot copies the board, so the caller can encode it without the lock.
func (b *board) snapshot(now time.Time) Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Snapshot{Version: b.version, Cards: append([]Card(nil), b.cards...), Now: now.UnixMilli()}
}

// currentVersion is the board version now.
func (b *board) currentVersion() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.version
}
