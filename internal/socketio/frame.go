package socketio

import (
	"encoding/binary"
	"errors"
)

// ErrWouldBlock is TrySend's answer when the connection could not take the
// whole frame at once: the connection keeps what it did not write, and
// Flush, which waits, delivers it.
var ErrWouldBlock = errors.New("socketio: write would block")

// Frame is one socket.io packet made ready for the wire once: the whole
// websocket frame (header, Engine.IO MESSAGE type, packet), so that the
// same bytes can be written to any number of websocket connections, with
// the packet inside it for long-polling. A Frame shares the memory it was
// built in; connections copy whatever they keep.
type Frame struct {
	ws     []byte
	packet int // where the socket.io packet starts in ws
}

// maxHeader is the longest header of an unmasked websocket frame: two bytes
// and an eight-byte length.
const maxHeader = 10

// headroom is what StartFrame reserves: a header and the Engine.IO type.
var headroom [maxHeader + 1]byte

// StartFrame empties buf and reserves room for the frame's headers. Append
// the socket.io packet (like `2["event",arg]`) to the result and pass it to
// EndFrame.
func StartFrame(buf []byte) []byte { return append(buf[:0], headroom[:]...) }

// EndFrame makes buf, from StartFrame with a packet appended, into a Frame
// that shares buf's memory.
func EndFrame(buf []byte) Frame {
	buf[maxHeader] = '4' // Engine.IO MESSAGE
	var h [maxHeader]byte
	n := putHeader(h[:], textMessage, len(buf)-maxHeader)
	start := maxHeader - n
	copy(buf[start:], h[:n])
	return Frame{ws: buf[start:], packet: n + 1}
}

// Bytes is the websocket frame, as written to every websocket.
func (f Frame) Bytes() []byte { return f.ws }

// Packet is the socket.io packet the frame carries.
func (f Frame) Packet() []byte { return f.ws[f.packet:] }

// textMessage is RFC 6455's text opcode (gorilla's TextMessage).
const textMessage = 1

// putHeader writes the header of a final, unmasked frame of opcode op with
// a payload of n bytes to h and returns its length.
func putHeader(h []byte, op byte, n int) int {
	h[0] = 0x80 | op // FIN
	switch {
	case n < 126:
		h[1] = byte(n)
		return 2
	case n <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		return 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		return 10
	}
}
