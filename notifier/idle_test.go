package notifier_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// TestIdleSocketGoroutines reports how many goroutines the node holds per
// idle, subscribed socket: one, the connection's reader. Writers are
// pooled, subscribes run on shared workers, and go-socket.io's socket.io
// layer, which kept three per connection, is not used.
func TestIdleSocketGoroutines(t *testing.T) {
	n := startNode(t, testConfig())
	base := nodeGoroutines()
	const sockets = 100
	tok := token(t, "idle")
	for range sockets {
		c := dial(t, n, sioclient.Options{})
		c.subscribe(tok, map[string]int64{"idle": 0})
	}
	waitFor(t, 10*time.Second, "sockets registered", func() bool { return n.srv.Sockets() == sockets })
	var per float64
	checkFor(t, 10*time.Second, func() error {
		per = float64(nodeGoroutines()-base) / sockets
		if per > 1 {
			return fmt.Errorf("%.2f goroutines per idle socket; want at most the reader", per)
		}
		return nil
	})
	t.Logf("%.2f goroutines per idle websocket", per)
}

// nodeGoroutines counts the goroutines that are not the test clients'.
func nodeGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("internal/sioclient")) {
			count++
		}
	}
	return count
}
