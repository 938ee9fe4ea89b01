package notifier

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

func TestDisconnectReasonOfAnEndedReader(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		draining bool
		want     DisconnectReason
	}{
		{"client closed", io.EOF, false, DisconnectClientClosed},
		{"client left while draining", io.EOF, true, DisconnectDrain},
		{"vanished while draining", errors.New("connection reset"), true, DisconnectDrain},
		{"ping timeout", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), false, DisconnectPingTimeout},
		{"ping timeout while draining", os.ErrDeadlineExceeded, true, DisconnectPingTimeout},
		{"protocol", fmt.Errorf("%w: %w", socketio.ErrProtocol, socketio.ErrRejected), false, DisconnectProtocolError},
		{"reset", errors.New("connection reset by peer"), false, DisconnectTransportError},
		{"closed by the node without a reason", nil, false, DisconnectServerClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := readFailure(c.err, c.draining); got != c.want {
				t.Errorf("readFailure = %s, want %s", got, c.want)
			}
		})
	}
	if writeFailure(os.ErrDeadlineExceeded) != DisconnectSlow || writeFailure(io.ErrClosedPipe) != DisconnectWriteError {
		t.Error("a missed write deadline is slow, another write error is write_error")
	}
	seen := map[string]bool{}
	for r := range numDisconnectReasons {
		name := r.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("reason %d has name %q", r, name)
		}
		seen[name] = true
	}
}

// TestWriteOnAClosedConnection: a hint written after the connection closed
// (the client's CLOSE, read first) records no reason of its own, so the
// disconnect reports the close's cause, not write_error. A write that broke
// records write_error, and one past its deadline slow.
func TestWriteOnAClosedConnection(t *testing.T) {
	conn := &fakeConn{}
	s := newSocket("s1", conn, testPool(t))
	s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
	_ = conn.Close()
	if !s.hint("t", 1) {
		t.Fatal("the hint was not queued")
	}
	waitIdle(t, s)
	if r := s.closedFor.Load(); r != 0 {
		t.Errorf("a write after the close recorded %s", DisconnectReason(r-1))
	}
	for err, want := range map[error]DisconnectReason{
		syscall.ECONNRESET:     DisconnectWriteError,
		os.ErrDeadlineExceeded: DisconnectSlow,
	} {
		conn := &fakeConn{}
		s := newSocket("s2", conn, testPool(t))
		s.writeFailed(fmt.Errorf("write: %w", err))
		if r := s.closedFor.Load(); r != uint32(want)+1 || !conn.closed {
			t.Errorf("after %v: reason %d, closed %v; want %s", err, r, conn.closed, want)
		}
	}
}
