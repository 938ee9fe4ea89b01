//go:build unix

package socketio

import (
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
)

// rawWriter writes to a socket without waiting: what the kernel buffer
// takes now, and no more. Go's own Write would park the goroutine until
// the rest fits.
//
// It writes to the descriptor itself. A descriptor must not be written
// once closed, when its number may already name another connection: Go's
// RawConn.Control guards that with a reference on the descriptor, but its
// lock word and the poller's state sit in the net package's structures,
// a few more cache lines per recipient of a fan-out (Control and its
// reference were 5 % of a fan-out's CPU; RawConn.Write, which also resets
// the poller for a wait, more). Here the conn's own closed flag and a
// count of writes in flight, next to its write lock, do the same: a write
// counts itself in, then checks closed; Close sets closed, then waits for
// the count to drain (release) before it closes the descriptor. Only the
// holder of the conn's writeMu writes, and never for long: the socket
// does not block.
type rawWriter struct {
	// fd1 is the descriptor + 1, so that the zero rawWriter writes
	// nowhere: 0 when the connection has no descriptor to write to.
	fd1  int
	busy atomic.Int32
}

// init takes nc's descriptor; the connection must not be closed yet.
func (w *rawWriter) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { w.fd1 = int(fd) + 1 })
}

func (w *rawWriter) ok() bool { return w.fd1 > 0 }

// write returns how much of b the socket took at once; ErrClosed once
// closed is set.
func (w *rawWriter) write(b []byte, closed *atomic.Bool) (int, error) {
	w.busy.Add(1)
	n, err := w.writeOpen(b, closed)
	w.busy.Add(-1)
	return n, err
}

func (w *rawWriter) writeOpen(b []byte, closed *atomic.Bool) (int, error) {
	if closed.Load() {
		return 0, ErrClosed
	}
	n := 0
	for n < len(b) {
		m, err := syscall.Write(w.fd1-1, b[n:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return n, nil
		case err != nil:
			return n, err
		case m <= 0:
			return n, nil
		}
		n += m
	}
	return n, nil
}

// release waits until no write is on the descriptor, for Close, which has
// set closed already: no write starts after this returns.
func (w *rawWriter) release() {
	for w.busy.Load() != 0 {
		runtime.Gosched()
	}
}
