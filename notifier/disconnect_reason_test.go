package notifier

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

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
