package socketio

import (
	"bytes"

	"github.com/googollee/go-socket.io/engineio/packet"
)

// Reasons passed to OnReject by the transports.
const (
	reasonBinary   = "binary packet"
	reasonTooLarge = "frame too large"
	reasonBody     = "body too large"
	reasonAbandon  = "abandoned"
	reasonUpgrade  = "second upgrade"
	// Engine.IO 4 refusals: a packet the protocol does not allow there,
	// and two GETs held at once for one session.
	reasonBadPacket     = "bad packet"
	reasonDuplicatePoll = "duplicate poll"
	// reasonUnsupported refuses an EIO version we do not speak.
	reasonUnsupported = "unsupported protocol"
)

// inspect looks at one incoming Engine.IO packet (type pt, payload data
// after the type byte) before the engine's session does, and returns the
// packet type to hand on, or a reason to refuse the connection.
//
// Our protocol has no binary data: types 5 (binary event) and 6 (binary
// ack) are refused, and so is any packet with an attachment count (a '-'
// after the optional digits that follow the type), which go-socket.io's
// own parser trusted ("4518446744073709551615-…" panicked the process).
//
// Two root-namespace packets are rewritten at the Engine.IO level:
//   - CONNECT to "/": the server connects the root namespace by itself, so
//     a client's is dropped (NOOP) rather than running Connect again.
//   - DISCONNECT from "/": turned into an Engine.IO CLOSE, which ends the
//     session, so Disconnect always means the connection is gone.
func inspect(pt packet.Type, data []byte) (packet.Type, string) {
	if pt != packet.MESSAGE || len(data) == 0 {
		return pt, ""
	}
	if binaryPacket(data) {
		return pt, reasonBinary
	}
	typ := data[0]
	i := 1
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	if (typ == '0' || typ == '1') && rootNamespace(data[i:]) {
		if typ == '0' {
			return packet.NOOP, ""
		}
		return packet.CLOSE, ""
	}
	return pt, ""
}

// binaryPacket reports whether a socket.io packet (not empty) is binary or
// announces attachments.
func binaryPacket(data []byte) bool {
	if typ := data[0]; typ == '5' || typ == '6' {
		return true
	}
	i := 1
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i < len(data) && data[i] == '-'
}

// rootNamespace reads the namespace the way go-socket.io's parser does: a
// leading '/' up to ',' (or the end), without its "?query".
func rootNamespace(rest []byte) bool {
	if len(rest) == 0 || rest[0] != '/' {
		return true
	}
	ns := rest
	if j := bytes.IndexByte(ns, ','); j >= 0 {
		ns = ns[:j]
	}
	if j := bytes.IndexByte(ns, '?'); j >= 0 {
		ns = ns[:j]
	}
	return len(ns) == 1 // just "/"
}

// msgReader hands one checked packet on, through the engine's session, to
// the packet layer, which takes its bytes without a copy (payload).
type msgReader struct {
	bytes.Reader
	buf  *bytes.Buffer
	skip int
	set  *transportSet
}

func newMsgReader(set *transportSet, buf *bytes.Buffer, skip int) *msgReader {
	m := &msgReader{buf: buf, skip: skip, set: set}
	m.Reset(buf.Bytes()[skip:])
	return m
}

// payload is the packet, valid until Close.
func (m *msgReader) payload() []byte {
	if m.buf == nil {
		return nil
	}
	return m.buf.Bytes()[m.skip:]
}

// Close returns the buffer to the pool; the library closes every reader it
// gets. A second Close does nothing, and reads after Close see EOF.
func (m *msgReader) Close() error {
	if m.buf != nil {
		m.Reset(nil)
		m.set.putBuf(m.buf)
		m.buf = nil
	}
	return nil
}
