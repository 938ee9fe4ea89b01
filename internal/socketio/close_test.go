package socketio

import (
	"net/http"
	"testing"
	"time"
)

// closeAnswerBudget is how long a POST carrying CLOSE may take to be
// answered on a loaded machine; the bug it guards against held it for the
// whole PingTimeout (testPingTimeout, 10s; 60s with the notifier's).
const closeAnswerBudget = 3 * time.Second

// TestPollingCloseAnsweredAtOnce: a long-polling POST that carries CLOSE
// ends the session and is answered at once, on both protocol versions, with
// nothing left behind (issue 20, item 8: `1:1` was held for PingTimeout,
// outside the socket count).
func TestPollingCloseAnsweredAtOnce(t *testing.T) {
	h := newHarness(t, nil)
	// closes posts CLOSE and checks it was answered 200 within the budget.
	closes := func(t *testing.T, post func(...string) (int, string)) string {
		t.Helper()
		start := time.Now()
		status, body := post("1")
		if took := time.Since(start); took > closeAnswerBudget {
			t.Fatalf("CLOSE answered after %v", took)
		}
		if status != http.StatusOK {
			t.Fatalf("CLOSE POST: %d %q", status, body)
		}
		return body
	}
	gone := func(t *testing.T) {
		t.Helper()
		eventually(t, 5*time.Second, "session gone", func() bool { return h.srv.Count() == 0 })
	}
	t.Run("EIO 3 1:1 after the handshake", func(t *testing.T) {
		// The attack's shape: no GET for the CONNECT first, so the
		// session's one reader is still waiting to write it.
		closes(t, h.handshake(t).post)
		gone(t)
	})
	t.Run("EIO 3 1:1", func(t *testing.T) {
		closes(t, h.connectPolling(t).post)
		gone(t)
	})
	t.Run("EIO 4 1", func(t *testing.T) {
		c := h.connectPolling4(t)
		if body := closes(t, c.post); body != "ok" {
			t.Fatalf("CLOSE POST answered %q", body)
		}
		// The session no longer counts, but the GET the client had under
		// way still gets NOOP; then the id is gone.
		gone(t)
		if got := c.get(); len(got) != 1 || got[0] != "6" {
			t.Fatalf("last GET = %q, want NOOP", got)
		}
		if resp, _ := h.do(t, http.MethodGet, h.url(c.query()), nil, ""); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("GET after close: %d, want 400", resp.StatusCode)
		}
		gone(t)
	})
}
