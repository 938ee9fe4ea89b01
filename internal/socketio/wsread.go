package socketio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The read side of a websocket. A connection in steady state holds no
// goroutine: when it has read every whole message, it parks (park) and the
// poller watches its socket; on data, a short-lived goroutine reads what is
// there without waiting (readable), takes the whole frames, and resumes the
// connection's dispatcher, which reads the messages and parks again. Before
// that (the handshake, an upgrade's probe) and where there is no poller,
// reads block.

// heldMsg is one data message read off the socket and not yet taken, or a
// packet the client POSTed during the upgrade.
type heldMsg struct {
	binary bool
	buf    *bytes.Buffer
}

// errNothingYet is a non-blocking read's answer when no whole message is
// there.
var errNothingYet = errors.New("socketio: no whole message yet")

// readBufs are what one read from a socket lands in. They are held only for
// that read: bytes of a frame that has not fully arrived are copied out.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// idleReader is what the engine's session hands the packet layer in place
// of a MESSAGE when a websocket has none whole (see wsConn.NextReader): the
// signal to park. The library returns MESSAGE readers as they are, so it
// gets through without the library waiting for anything.
type idleReader struct{ ws *wsConn }

func (idleReader) Read([]byte) (int, error) { return 0, io.EOF }
func (idleReader) Close() error             { return nil }

// readMessage returns the next whole data message: what is held first, then
// the end of reading (the error that ended it, or ErrClosed). With block
// false it returns errNothingYet instead of waiting for the socket.
func (c *wsConn) readMessage(block bool) (heldMsg, error) {
	for {
		if m, err, ok := c.takeHeld(); ok {
			return m, err
		}
		if !block {
			return heldMsg{}, errNothingYet
		}
		if err := c.readSome(); err != nil {
			c.readEnded(err)
		}
	}
}

// takeHeld takes the next held message, or the end of reading: messages
// read before the client's close frame still come first, but none after the
// server closed the conn (its handler may have said goodbye already).
func (c *wsConn) takeHeld() (heldMsg, error, bool) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	closed := c.closed.Load()
	switch {
	case !closed && len(c.held) > 0:
		m := c.held[0]
		c.held[0] = heldMsg{}
		c.held = c.held[1:]
		if len(c.held) == 0 {
			c.held = nil // an idle socket keeps no slice
		}
		return m, nil, true
	case c.readErr != nil:
		return heldMsg{}, c.readErr, true
	case closed:
		return heldMsg{}, ErrClosed, true
	}
	return heldMsg{}, nil, false
}

// prepend queues packets that arrived over polling during the upgrade.
func (c *wsConn) prepend(packets [][]byte) {
	msgs := make([]heldMsg, 0, len(packets))
	for _, p := range packets {
		buf := c.set.getBuf()
		buf.Write(p)
		msgs = append(msgs, heldMsg{buf: buf})
	}
	c.readMu.Lock()
	c.held = append(msgs, c.held...)
	c.readMu.Unlock()
}

// readSome waits for bytes from the client and takes the whole frames
// among them.
func (c *wsConn) readSome() error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := c.nc.Read(*bp)
	if n > 0 {
		if err := c.consume((*bp)[:n]); err != nil {
			return err
		}
	}
	return err
}

// consume takes the whole frames in what is left of earlier reads followed
// by data: data messages are held, control frames answered. The start of a
// frame still to come is kept, copied: MaxFrameBytes bounds it, and an idle
// socket keeps nothing.
func (c *wsConn) consume(data []byte) error {
	b := data
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		b = c.in
	}
	for len(b) > 0 {
		ev, n, err := c.frames.next(b, c.set.cfg.MaxFrameBytes)
		if err == nil && n > 0 {
			err = c.handle(ev)
		}
		if err != nil {
			c.in = nil
			return err
		}
		if n == 0 {
			break
		}
		b = b[n:]
	}
	if len(b) == 0 {
		c.in = nil
	} else {
		c.in = bytes.Clone(b)
	}
	return nil
}

// handle holds a data message and answers a control frame, as gorilla's
// default handlers would, through writeRaw.
func (c *wsConn) handle(ev wsEvent) error {
	switch ev.op {
	case opText, opBinary:
		buf := c.set.getBuf()
		buf.Write(ev.payload)
		c.readMu.Lock()
		c.held = append(c.held, heldMsg{binary: ev.op == opBinary, buf: buf})
		c.readMu.Unlock()
	case opPing:
		return c.control(opPong, ev.payload)
	case opClose:
		code, text, ok := closeCode(ev.payload)
		if !ok {
			return errBadFrame
		}
		echo := code
		if echo == websocket.CloseNoStatusReceived {
			echo = websocket.CloseNormalClosure
		}
		_ = c.control(opClose, websocket.FormatCloseMessage(echo, ""))
		return &websocket.CloseError{Code: code, Text: text}
	}
	return nil
}

// control writes a control frame, after any data frame under way.
func (c *wsConn) control(op byte, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed.Load() {
		return nil
	}
	var h [maxHeader]byte
	frame := append(h[:putHeader(h[:], op, len(data))], data...)
	return c.writeRaw(frame, time.Now().Add(c.set.cfg.WriteTimeout))
}

// readEnded records what ended reading, as gorilla reported it: an oversize
// message or broken framing is refused (ErrRejected) with the close code
// gorilla sent (1009, 1002), and a connection that ends without a close
// frame is an abnormal closure (1006). It does not close the conn: its
// reader does, once it has the error, so that the connection ends for this
// reason and not as a write to a closed socket.
func (c *wsConn) readEnded(err error) {
	switch {
	case errors.Is(err, errFrameTooLarge):
		_ = c.control(opClose, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""))
		c.set.reject(reasonTooLarge, "websocket", c.nc.RemoteAddr())
		c.setReadErr(ErrRejected)
	case errors.Is(err, errBadFrame):
		_ = c.control(opClose, websocket.FormatCloseMessage(websocket.CloseProtocolError, ""))
		c.set.reject(reasonBadPacket, "websocket", c.nc.RemoteAddr())
		c.setReadErr(ErrRejected)
	case errors.Is(err, io.EOF):
		c.setReadErr(&websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: io.ErrUnexpectedEOF.Error()})
	default:
		c.setReadErr(err)
	}
}

func (c *wsConn) setReadErr(err error) {
	c.readMu.Lock()
	if c.readErr == nil {
		c.readErr = err
	}
	c.readMu.Unlock()
}

// park keeps resume, the connection's dispatcher, until the next message or
// the end of the connection, and has the socket watched; false if one of
// those is there already, and the caller reads on.
func (c *wsConn) park(resume func()) bool {
	c.readMu.Lock()
	if len(c.held) > 0 || c.readErr != nil || c.closed.Load() {
		c.readMu.Unlock()
		return false
	}
	c.resume = resume
	c.readMu.Unlock()
	c.watch()
	return true
}

// watch has the poller wake the connection when its socket has data. Only
// a parked connection is watched, so at most one goroutine reads it.
func (c *wsConn) watch() {
	if c.set.poller.watch(c) != nil {
		// No poller here (another OS, a conn without a descriptor), or
		// the conn closed meanwhile: a goroutine waits in a read instead,
		// and finds the end if there is one.
		go c.readBlocked()
	}
}

func (c *wsConn) readBlocked() { c.afterRead(c.readSome()) }

// afterRead resumes the parked dispatcher if a whole message or the end of
// the connection came, and otherwise watches the socket again.
func (c *wsConn) afterRead(err error) {
	if err != nil {
		c.readEnded(err)
	}
	c.readMu.Lock()
	ready := len(c.held) > 0 || c.readErr != nil || c.closed.Load()
	var resume func()
	if ready {
		// nil if Close took it first and resumed it itself.
		resume, c.resume = c.resume, nil
	}
	c.readMu.Unlock()
	switch {
	case resume != nil:
		resume()
	case !ready:
		c.watch()
	}
}

// wake resumes a parked dispatcher after Close, on a goroutine of its own:
// Close may be called with locks held. It finds the conn closed and ends.
func (c *wsConn) wake() {
	c.readMu.Lock()
	resume := c.resume
	c.resume = nil
	if c.liveness != nil {
		c.liveness.Stop()
	}
	c.readMu.Unlock()
	if resume != nil {
		go resume()
	}
}

// SetReadDeadline is the engine's liveness rule for Engine.IO 3: a client
// that does not ping before t is gone. A read deadline means nothing to a
// socket nobody waits on, so a timer closes the conn at t; the socket's own
// deadline still bounds a blocking read (an upgrade's probe).
func (c *wsConn) SetReadDeadline(t time.Time) error {
	_ = c.nc.SetReadDeadline(t)
	c.readMu.Lock()
	defer c.readMu.Unlock()
	c.readBy = t
	switch {
	case t.IsZero():
		if c.liveness != nil {
			c.liveness.Stop()
		}
	case c.liveness == nil:
		c.liveness = time.AfterFunc(time.Until(t), c.expired)
	default:
		c.liveness.Reset(time.Until(t))
	}
	return nil
}

// expired ends reading on a conn whose read deadline passed, with the
// timeout a blocked read would have returned; a parked reader is resumed
// to close it, a running one finds it on its next read.
func (c *wsConn) expired() {
	c.readMu.Lock()
	by := c.readBy
	c.readMu.Unlock()
	if by.IsZero() || time.Now().Before(by) {
		return // moved on (a ping) after this firing was under way
	}
	c.afterRead(os.ErrDeadlineExceeded)
}
