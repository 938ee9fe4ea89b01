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
)

// inspect looks at one incoming Engine.IO packet (type pt, payload data
// after the type byte) before go-socket.io's parser does, and returns the
// packet type to hand on, or a reason to refuse the connection.
//
// Our protocol has no binary data, and go-socket.io's parser trusts the
// attachment count of a socket.io packet: "451-…" makes it wait for one
// binary frame, "4510000000-…" allocates ~380 MB up front, and
// "4518446744073709551615-…" panics the process. The parser takes the count
// from any packet type, so besides types 5 (binary event) and 6 (binary ack)
// any '-' after the optional digits that follow the type is refused.
//
// Two root-namespace packets are rewritten, because the library handles them
// in ways a client can abuse and a socket.io 2 client never needs:
//   - CONNECT to "/": the server connects the root namespace by itself; the
//     library would run OnConnect again for every such packet. Dropped (NOOP).
//   - DISCONNECT from "/": the library would run OnDisconnect yet keep the
//     transport open. Turned into an Engine.IO CLOSE, which ends the session,
//     so OnDisconnect always means the connection is gone.
func inspect(pt packet.Type, data []byte) (packet.Type, string) {
	if pt != packet.MESSAGE || len(data) == 0 {
		return pt, ""
	}
	typ := data[0]
	if typ == '5' || typ == '6' {
		return pt, reasonBinary
	}
	i := 1
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	if i < len(data) && data[i] == '-' {
		return pt, reasonBinary
	}
	if (typ == '0' || typ == '1') && rootNamespace(data[i:]) {
		if typ == '0' {
			return packet.NOOP, ""
		}
		return packet.CLOSE, ""
	}
	return pt, ""
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

// msgReader hands one checked packet to the library. It implements
// ReadByte and UnreadByte so go-socket.io's parser reads it directly instead
// of wrapping it in a 4 KiB bufio.Reader per packet.
type msgReader struct {
	bytes.Reader
	buf *bytes.Buffer
	set *transportSet
}

func newMsgReader(set *transportSet, buf *bytes.Buffer, skip int) *msgReader {
	m := &msgReader{buf: buf, set: set}
	m.Reset(buf.Bytes()[skip:])
	return m
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
