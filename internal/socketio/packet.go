package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Errors of a socket.io packet that end the connection. They reach
// Handler.Error.
var (
	errEmptyPacket  = errors.New("socketio: empty packet")
	errPacketType   = errors.New("socketio: packet type not accepted from a client")
	errNamespace    = errors.New("socketio: namespace not served (only \"/\" is)")
	errAckID        = errors.New("socketio: ack id is not a number of at most 18 digits")
	errEventPayload = errors.New("socketio: event is not a JSON array starting with its name")
)

// event is a client's EVENT packet, 2[<id>]["name",arg,…], as dispatch
// needs it. Both slices point into the packet.
type event struct {
	name []byte
	// arg is the first argument as raw JSON; nil if there is none. Further
	// arguments are ignored: our protocol sends one.
	arg json.RawMessage
	// id is the ack id's digits as the client sent them, nil if it asked
	// for no ack.
	id []byte
}

// parsePacket reads one socket.io 2 packet (the Engine.IO MESSAGE payload,
// <type>[<nsp>,][<id>][<json>]) from a client. It returns ok=false with no
// error for packets that are valid but need no action: events and acks for
// namespaces we do not serve (a socket.io 2 client sends those only after
// connecting that namespace, which we refuse), a namespace's DISCONNECT,
// and acks, since the server asks the client for none.
//
// The root namespace's CONNECT and DISCONNECT never get here: inspect turned
// them into Engine.IO NOOP and CLOSE; binary packets were refused there too.
//
// Unlike go-socket.io's parser this reads no attachment count, decodes no
// argument (the handler gets it raw) and does no reflection, so whatever
// goroutine reads a connection keeps a small stack.
func parsePacket(p []byte) (ev event, ok bool, err error) {
	if len(p) == 0 {
		return ev, false, errEmptyPacket
	}
	typ, rest := p[0], p[1:]
	root := true
	if len(rest) > 0 && rest[0] == '/' {
		root = rootNamespace(rest)
		// The namespace runs to ',' or, for a packet with nothing after it
		// (like "0/chat"), to the end.
		i := 0
		for i < len(rest) && rest[i] != ',' {
			i++
		}
		if i < len(rest) {
			i++
		}
		rest = rest[i:]
	}
	switch typ {
	case '2': // EVENT
	case '1', '3': // DISCONNECT of a namespace, ACK
		return ev, false, nil
	case '0': // CONNECT of a namespace other than "/"
		return ev, false, errNamespace
	default: // ERROR (a server's packet), binary types, anything else
		return ev, false, fmt.Errorf("%w: %q", errPacketType, typ)
	}
	if !root {
		return ev, false, nil
	}
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	if i > 18 {
		return ev, false, errAckID
	}
	if i > 0 {
		ev.id = rest[:i]
	}
	ev.name, ev.arg, err = eventArgs(rest[i:])
	return ev, err == nil, err
}

// eventArgs splits an event's JSON array, ["name",arg,…], into the name's
// raw bytes (a JSON string without its quotes; escapes kept) and the first
// argument.
func eventArgs(data []byte) (name []byte, arg json.RawMessage, err error) {
	if !json.Valid(data) {
		return nil, nil, errEventPayload
	}
	i := skipSpace(data, 0)
	if data[i] != '[' {
		return nil, nil, errEventPayload
	}
	i = skipSpace(data, i+1)
	if data[i] != '"' {
		return nil, nil, errEventPayload
	}
	end := valueEnd(data, i)
	name = data[i+1 : end-1]
	i = skipSpace(data, end)
	if data[i] == ',' {
		start := skipSpace(data, i+1)
		arg = data[start:valueEnd(data, start)]
	}
	return name, arg, nil
}

// valueEnd returns where the JSON value starting at data[i] ends, in data
// that json.Valid accepted.
func valueEnd(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			i++
			for data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if depth == 0 {
				return i + 1
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 { // the end of the enclosing array
				return i
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// eventName is the event's name as a Go string: the raw bytes when they
// hold no escape, which is every name our protocol uses.
func eventName(raw []byte) (string, bool) {
	for _, c := range raw {
		if c == '\\' {
			var s string
			quoted := make([]byte, 0, len(raw)+2)
			quoted = append(append(append(quoted, '"'), raw...), '"')
			return s, json.Unmarshal(quoted, &s) == nil
		}
	}
	return string(raw), true
}

// ackPacket is the ACK for id with one argument, the JSON value v (null if
// v is empty): 3<id>[v].
func ackPacket(id []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	p := make([]byte, 0, len(id)+len(v)+3)
	p = append(append(append(p, '3'), id...), '[')
	return append(append(p, v...), ']')
}
