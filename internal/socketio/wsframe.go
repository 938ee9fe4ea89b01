package socketio

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// RFC 6455 opcodes (gorilla's message type constants are the same numbers).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

var (
	// errFrameTooLarge: a message's length, as its frame headers announce
	// it, is over MaxFrameBytes. It is known before any payload arrives.
	errFrameTooLarge = errors.New("socketio: websocket message over the frame limit")
	// errBadFrame: the client broke RFC 6455 framing.
	errBadFrame = errors.New("socketio: websocket protocol error")
)

// frameReader splits a client's byte stream into websocket messages and
// control frames. Its only state is the data message being reassembled from
// fragments, nil between messages, so an idle socket's reader holds nothing.
type frameReader struct {
	frag   []byte
	fragOp byte // the fragmented message's opcode; 0 when there is none
}

// wsEvent is a whole data message (opText, opBinary) or a control frame.
type wsEvent struct {
	op      byte
	payload []byte
}

// next takes one frame from the start of b, unmasking its payload in place.
// It returns how many bytes the frame took, 0 when b holds no whole frame
// yet, and the event the frame completes (op 0 for a fragment that does not
// end its message). The payload shares b's memory, or the reader's for a
// fragmented message, until the next call. limit caps a data message
// (all its fragments) and is checked from the header, before the payload
// is waited for.
func (r *frameReader) next(b []byte, limit int) (ev wsEvent, n int, err error) {
	if len(b) < 2 {
		return ev, 0, nil
	}
	fin, op := b[0]&0x80 != 0, b[0]&0x0f
	if b[0]&0x70 != 0 || b[1]&0x80 == 0 {
		// Reserved bits without an extension, or an unmasked client frame.
		return ev, 0, errBadFrame
	}
	size, h := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return ev, 0, nil
		}
		size, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return ev, 0, nil
		}
		size, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	switch op {
	case opClose, opPing, opPong:
		if !fin || size > 125 {
			return ev, 0, errBadFrame
		}
	case opText, opBinary:
		if r.fragOp != 0 {
			return ev, 0, errBadFrame // a new message inside a fragmented one
		}
		if size > uint64(limit) {
			return ev, 0, errFrameTooLarge
		}
	case opContinuation:
		if r.fragOp == 0 {
			return ev, 0, errBadFrame
		}
		if size > uint64(limit-len(r.frag)) {
			return ev, 0, errFrameTooLarge
		}
	default:
		return ev, 0, errBadFrame
	}
	h += 4 // the mask key
	if len(b) < h || uint64(len(b)-h) < size {
		return ev, 0, nil
	}
	mask := b[h-4 : h]
	p := b[h : h+int(size)]
	for i := range p {
		p[i] ^= mask[i&3]
	}
	n = h + int(size)
	switch {
	case op >= opClose:
		return wsEvent{op: op, payload: p}, n, nil
	case op != opContinuation && fin:
		return wsEvent{op: op, payload: p}, n, nil
	case op != opContinuation:
		r.fragOp, r.frag = op, append([]byte(nil), p...)
		return ev, n, nil
	}
	r.frag = append(r.frag, p...)
	if !fin {
		return ev, n, nil
	}
	ev = wsEvent{op: r.fragOp, payload: r.frag}
	r.frag, r.fragOp = nil, 0
	return ev, n, nil
}

// closeCode reads a close frame's payload: its status code (1005, no
// status, for an empty one) and reason, or false for a payload RFC 6455
// does not allow.
func closeCode(p []byte) (int, string, bool) {
	if len(p) == 0 {
		return 1005, "", true
	}
	if len(p) == 1 || !utf8.Valid(p[2:]) {
		return 0, "", false
	}
	code := int(binary.BigEndian.Uint16(p))
	switch {
	case code < 1000, code == 1004, code == 1005, code == 1006, code >= 1015 && code < 3000, code >= 5000:
		return 0, "", false
	}
	return code, string(p[2:]), true
}
