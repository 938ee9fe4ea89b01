package sioclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// Engine.IO 3 packet types, as the first character of a text packet.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// socket.io protocol v4 packet types, as the first character inside an
// Engine.IO message.
const (
	sioConnect     = '0'
	sioDisconnect  = '1'
	sioEvent       = '2'
	sioAck         = '3'
	sioError       = '4'
	sioBinaryEvent = '5'
	sioBinaryAck   = '6'
)

// maxFrame bounds one websocket message or one polling response body. The
// notifier's frames are a few hundred bytes; the bound only exists so that a
// runaway server cannot make a load generator holding thousands of sockets
// run out of memory.
const maxFrame = 16 << 20

// bufPool recycles read and encode buffers. With thousands of sockets, a
// buffer per socket would be held almost always idle; a pool keeps only as
// many as there are frames in flight.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	// A rare huge frame must not pin its buffer in the pool forever.
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// appendPayload frames one packet for a text (b64=1) polling payload:
// "<length>:<packet>". go-socket.io 1.7.0 counts the length in bytes both
// when it decodes and when it encodes (the JavaScript implementations count
// UTF-16 code units), so bytes it is: that is what the server we test reads.
func appendPayload(dst, pkt []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(pkt)), 10)
	dst = append(dst, ':')
	return append(dst, pkt...)
}

// splitPayload cuts the first packet off a text polling payload. Lengths
// are byte counts, matching appendPayload.
func splitPayload(b []byte) (pkt, rest []byte, err error) {
	n := 0
	i := 0
	for ; i < len(b) && b[i] != ':'; i++ {
		c := b[i]
		// Nine digits already exceed maxFrame, so this also stops overflow.
		if c < '0' || c > '9' || i >= 9 {
			return nil, nil, fmt.Errorf("%w: bad payload length %q", ErrProtocol, truncate(b[:i+1]))
		}
		n = n*10 + int(c-'0')
	}
	if i == 0 || i == len(b) {
		return nil, nil, fmt.Errorf("%w: bad payload framing %q", ErrProtocol, truncate(b))
	}
	b = b[i+1:]
	if n > len(b) {
		return nil, nil, fmt.Errorf("%w: payload length %d exceeds the %d bytes left", ErrProtocol, n, len(b))
	}
	return b[:n], b[n:], nil
}

// sioPacket is a parsed socket.io packet. Slices point into the frame.
type sioPacket struct {
	typ         byte
	attachments int
	nsp         []byte
	id          uint64
	hasID       bool
	data        []byte
}

// isRoot reports whether the packet is for the default namespace, which is
// written either as nothing or as "/".
func (p *sioPacket) isRoot() bool {
	return len(p.nsp) == 0 || (len(p.nsp) == 1 && p.nsp[0] == '/')
}

// parseSIO parses a socket.io packet: type, [attachments "-"], ["/nsp" ","],
// [ack id], [JSON data].
func parseSIO(b []byte) (sioPacket, error) {
	var p sioPacket
	if len(b) == 0 || b[0] < sioConnect || b[0] > sioBinaryAck {
		return p, fmt.Errorf("%w: bad socket.io packet %q", ErrProtocol, truncate(b))
	}
	p.typ = b[0]
	b = b[1:]
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		n, rest, ok := parseUint(b)
		if !ok || len(rest) == 0 || rest[0] != '-' || n > 1<<20 {
			return p, fmt.Errorf("%w: bad attachment count in binary packet", ErrProtocol)
		}
		p.attachments = int(n)
		b = rest[1:]
	}
	if len(b) > 0 && b[0] == '/' {
		end := bytes.IndexByte(b, ',')
		if end < 0 {
			p.nsp, b = b, nil
		} else {
			p.nsp, b = b[:end], b[end+1:]
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		n, rest, ok := parseUint(b)
		if !ok {
			return p, fmt.Errorf("%w: bad ack id", ErrProtocol)
		}
		p.id, p.hasID, b = n, true, rest
	}
	p.data = trimSpace(b)
	return p, nil
}

// parseUint reads leading decimal digits; ok is false when there are none
// or the number does not fit in a uint64.
func parseUint(b []byte) (n uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, b, false
		}
		n = n*10 + d
	}
	return n, b[i:], i > 0
}

// splitArray splits a JSON array into its elements without decoding them:
// the load generator only looks at some events, so paying for a full
// json.Unmarshal of every argument would be waste. The elements alias data.
func splitArray(data []byte) ([]json.RawMessage, error) {
	data = trimSpace(data)
	// Validating first keeps the scanner below simple: it may assume
	// balanced brackets and terminated strings.
	if len(data) < 2 || data[0] != '[' || !json.Valid(data) {
		return nil, fmt.Errorf("%w: data is not a JSON array: %q", ErrProtocol, truncate(data))
	}
	// Most events carry a name and one argument.
	out := make([]json.RawMessage, 0, 2)
	depth, start, inStr := 0, -1, false
	inner := data[1 : len(data)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case ',':
			if depth == 0 {
				out = append(out, json.RawMessage(trimSpace(inner[start:i])))
				start = -1
				continue
			}
		case '"':
			inStr = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, json.RawMessage(trimSpace(inner[start:])))
	}
	return out, nil
}

// appendEvent encodes an event packet (Engine.IO message + socket.io event):
// `42["name",args...]`, or `42<id>[...]` when an ack is wanted.
func appendEvent(buf *bytes.Buffer, id uint64, wantAck bool, event string, args []any) error {
	buf.WriteString("42")
	if wantAck {
		var tmp [20]byte
		buf.Write(strconv.AppendUint(tmp[:0], id, 10))
	}
	buf.WriteByte('[')
	enc := json.NewEncoder(buf)
	// socket.io-client sends strings as JavaScript does; the default HTML
	// escaping would turn "<" into "\u003c" and change what the server sees.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(event); err != nil {
		return err
	}
	// Encode ends every value with a newline; it is cut so the packet reads
	// like socket.io-client's.
	buf.Truncate(buf.Len() - 1)
	for i, a := range args {
		buf.WriteByte(',')
		if err := enc.Encode(a); err != nil {
			return fmt.Errorf("sioclient: argument %d: %w", i, err)
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte(']')
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// truncate keeps error messages short when a peer sends something huge.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
