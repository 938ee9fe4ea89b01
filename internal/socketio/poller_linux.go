//go:build linux

package socketio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
)

// poller tells parked websockets that their socket has data, with one epoll
// instance for all of them and a goroutine that waits on it only while
// there is a socket to watch: it starts with the first and stops once the
// last is closed, so a server with no sockets keeps no goroutine.
//
// Each watch is one-shot (EPOLLONESHOT): after an event the socket is not
// watched until its connection parks again, so one goroutine at a time
// reads it. The event names the conn by a token, not by its descriptor: a
// closed descriptor leaves the epoll set by itself and its number may be
// reused, while a token is never seen again once forgotten. Descriptors are
// touched only through RawConn.Control, which never hands over a closed one.
type poller struct {
	mu      sync.Mutex
	running bool
	epfd    int
	wake    [2]int // a pipe: writing to it makes the waiting goroutine look
	conns   map[uint64]*wsConn
	last    uint64
}

// wakeToken is the wake pipe's; conns' tokens start at 1.
const wakeToken = 0

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
	if !p.running {
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
	var ctlErr error
	if err := rc.Control(func(fd uintptr) {
		ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
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
	if len(p.conns) == 0 && p.running {
		_, _ = syscall.Write(p.wake[1], []byte{0})
	}
}

// start creates the epoll instance and its goroutine; p.mu is held.
func (p *poller) start() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("socketio: epoll_create1: %w", err)
	}
	var wake [2]int
	if err := syscall.Pipe2(wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return fmt.Errorf("socketio: pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	putToken(&ev, wakeToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wake[0], &ev); err != nil {
		closeFDs(epfd, wake[0], wake[1])
		return fmt.Errorf("socketio: epoll_ctl: %w", err)
	}
	p.epfd, p.wake, p.running = epfd, wake, true
	go p.run(epfd, wake)
	return nil
}

// run hands each ready socket to a goroutine of its own, which reads it
// and runs its connection until it parks again.
func (p *poller) run(epfd int, wake [2]int) {
	events := make([]syscall.EpollEvent, 128)
	var ready []*wsConn
	for {
		n, err := syscall.EpollWait(epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			// Only a bad descriptor or argument fails here: a bug of ours.
			panic(fmt.Sprintf("socketio: epoll_wait: %v", err))
		}
		stop := false
		ready = ready[:0]
		p.mu.Lock()
		for _, ev := range events[:n] {
			tok := token(&ev)
			if tok == wakeToken {
				drain(wake[0])
				stop = len(p.conns) == 0
				continue
			}
			if c := p.conns[tok]; c != nil {
				ready = append(ready, c)
			}
		}
		if stop {
			p.running = false
			closeFDs(epfd, wake[0], wake[1])
		}
		p.mu.Unlock()
		for _, c := range ready {
			go c.readable()
		}
		clear(ready)
		if stop {
			return
		}
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

func drain(fd int) {
	var b [64]byte
	for {
		if n, err := syscall.Read(fd, b[:]); n <= 0 || err != nil {
			return
		}
	}
}

func closeFDs(fds ...int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}
