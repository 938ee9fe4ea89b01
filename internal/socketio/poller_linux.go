//go:build linux

package socketio

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// poller tells parked websockets that their socket has data, with one epoll
// instance for all of them and a goroutine that waits on it only while
// there is a socket to watch: it starts with the first and stops once the
// last is closed, so a server with no sockets keeps no goroutine. That
// goroutine does not block a thread in epoll_wait: the epoll descriptor is
// itself readable while it has events, so the runtime's own netpoller
// parks the goroutine until then (RawConn.Read), and epoll_wait only
// collects what is ready.
//
// Each watch is one-shot (EPOLLONESHOT): after an event the socket is not
// watched until its connection parks again, so one goroutine at a time
// reads it. The event names the conn by a token, not by its descriptor: a
// closed descriptor leaves the epoll set by itself and its number may be
// reused, while a token is never seen again once forgotten. Descriptors are
// touched only through RawConn.Control, which never hands over a closed one.
type poller struct {
	mu    sync.Mutex
	ep    *os.File // the epoll instance; nil when no goroutine runs
	conns map[uint64]*wsConn
	last  uint64
}

// watch arms c's socket for one readiness event.
func (p *poller) watch(c *wsConn) error {
	rc, err := rawConn(c.nc)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed // Close forgets c after setting closed
	}
	if p.ep == nil {
		if err := p.start(); err != nil {
			return err
		}
	}
	op := syscall.EPOLL_CTL_MOD
	if c.token == 0 {
		if p.conns == nil {
			p.conns = map[uint64]*wsConn{}
		}
		p.last++
		c.token = p.last
		p.conns[c.token] = c
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	putToken(&ev, c.token)
	epfd := int(p.ep.Fd())
	var ctlErr error
	if err := rc.Control(func(fd uintptr) {
		ctlErr = syscall.EpollCtl(epfd, op, int(fd), &ev)
	}); err != nil {
		return err
	}
	if ctlErr != nil {
		return fmt.Errorf("socketio: epoll_ctl: %w", ctlErr)
	}
	return nil
}

// forget drops a closed conn; the last one stops the goroutine.
func (p *poller) forget(c *wsConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.token == 0 {
		return
	}
	delete(p.conns, c.token)
	c.token = 0
	if len(p.conns) == 0 && p.ep != nil {
		_ = p.ep.Close() // the goroutine's read fails, and it returns
		p.ep = nil
	}
}

// start creates the epoll instance and its goroutine; p.mu is held.
func (p *poller) start() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("socketio: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return fmt.Errorf("socketio: epoll: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return fmt.Errorf("socketio: epoll: %w", err)
	}
	p.ep = ep
	go p.run(rc)
	return nil
}

// run hands each ready socket to a goroutine of its own, which reads it
// and runs its connection until it parks again. It returns once forget
// closed the epoll instance.
func (p *poller) run(rc syscall.RawConn) {
	events := make([]syscall.EpollEvent, 128)
	var ready []*wsConn
	for {
		var n int
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			// Nothing ready: false parks until the descriptor is
			// readable again.
			return n > 0 || (werr != nil && werr != syscall.EINTR)
		})
		if err != nil {
			return // closed
		}
		if werr != nil {
			// Only a bad descriptor or argument fails here: a bug of ours.
			panic(fmt.Sprintf("socketio: epoll_wait: %v", werr))
		}
		ready = ready[:0]
		p.mu.Lock()
		for _, ev := range events[:n] {
			if c := p.conns[token(&ev)]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for _, c := range ready {
			go c.readable()
		}
		clear(ready)
	}
}

// readable reads what the socket has, without waiting, and goes on as
// afterRead says.
func (c *wsConn) readable() { c.afterRead(c.readNow()) }

// readNow reads once from the socket without waiting and takes the whole
// frames. A wake-up with nothing to read is not an error.
func (c *wsConn) readNow() error {
	rc, err := rawConn(c.nc)
	if err != nil {
		return err
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), *bp)
			if rerr != syscall.EINTR {
				return true // done: do not wait for readability
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case rerr == syscall.EAGAIN:
		return nil
	case rerr != nil:
		return rerr
	case n == 0:
		return io.EOF
	}
	return c.consume((*bp)[:n])
}

func rawConn(nc net.Conn) (syscall.RawConn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("socketio: %T has no descriptor", nc)
	}
	return sc.SyscallConn()
}

func putToken(ev *syscall.EpollEvent, tok uint64) {
	ev.Fd, ev.Pad = int32(uint32(tok)), int32(uint32(tok>>32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
