//go:build unix

package socketio

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// listener is a loopback listener closed with the test.
func listener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// dial connects to ln and returns the dialled end and the accepted one.
func dial(t *testing.T, ln net.Listener) (dialled, accepted net.Conn) {
	t.Helper()
	dialled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dialled.Close(); _ = accepted.Close() })
	return dialled, accepted
}

func rawTestConn(t *testing.T, nc net.Conn) *wsConn {
	cfg := Config{Logger: slog.New(slog.DiscardHandler)}.withDefaults()
	c := &wsConn{set: newTransportSet(cfg), nc: nc}
	c.raw.init(nc)
	if !c.raw.ok() {
		t.Fatal("a TCP connection has no descriptor to write to")
	}
	return c
}

// A raw write goes to the descriptor itself, not through Go's reference on
// it: once the conn is closed, its descriptor number may be handed to the
// next connection, and nothing meant for the old one may reach it.
func TestRawWriteNeverReachesAReusedDescriptor(t *testing.T) {
	conn, _ := dial(t, listener(t))
	c := rawTestConn(t, conn)
	if err := c.trySend([]byte("before")); err != nil {
		t.Fatalf("trySend on an open conn: %v", err)
	}
	ln := listener(t) // before the close, so that the dial below gets the number
	_ = c.Close()

	// The lowest free number goes to the next descriptor: a connection
	// dialled now gets the closed one's.
	next, peer := dial(t, ln)
	if fresh := rawTestConn(t, next); fresh.raw.fd1 != c.raw.fd1 {
		t.Fatalf("descriptor %d was not reused (the new one is %d): the test proves nothing", c.raw.fd1-1, fresh.raw.fd1-1)
	}
	if n, err := c.raw.write([]byte("stray"), &c.closed); n != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("raw write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if err := c.trySend([]byte("stray")); !errors.Is(err, ErrClosed) {
		t.Fatalf("trySend after Close = %v; want ErrClosed", err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if b, err := io.ReadAll(peer); len(b) > 0 {
		t.Fatalf("the new connection received %q (err %v)", b, err)
	}
}

// Close waits out a raw write in flight before it closes the descriptor,
// and no write starts after: with writers and Close racing, every byte a
// write reported as taken arrives at the conn's own peer, and none at a
// connection opened after the close.
func TestRawWriteRacesClose(t *testing.T) {
	for range 50 {
		conn, peer := dial(t, listener(t))
		c := rawTestConn(t, conn)
		ln := listener(t)
		var (
			mu    sync.Mutex
			taken int
			wg    sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				for {
					n, err := c.raw.write([]byte("x"), &c.closed)
					mu.Lock()
					taken += n
					mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		for { // Close once the writers are under way
			mu.Lock()
			started := taken > 0
			mu.Unlock()
			if started {
				break
			}
			runtime.Gosched()
		}
		_ = c.Close()
		wg.Wait()
		_, nextPeer := dial(t, ln) // the dialled end has the closed number
		_ = peer.SetReadDeadline(time.Now().Add(time.Second))
		got, _ := io.ReadAll(peer)
		if len(got) != taken {
			t.Fatalf("peer received %d bytes, writers reported %d taken", len(got), taken)
		}
		_ = nextPeer.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if b, _ := io.ReadAll(nextPeer); len(b) > 0 {
			t.Fatalf("a connection opened after Close received %d bytes", len(b))
		}
	}
}
