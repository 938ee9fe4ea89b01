package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// The socket.io suite's app, as its reference server runs it: the root and
// /custom namespaces; on connect an "auth" event echoes the CONNECT's
// payload; "message" is answered by "message-back" with the same
// arguments, "message-with-ack" by an ack with them; binary attachments
// travel back with their packet. Anything the protocol does not allow
// closes the connection.

// packet is one socket.io 5 packet.
type packet struct {
	typ         byte // '0'..'6'
	nsp         string
	id          string // ack id digits, "" for none
	attachments int
	data        json.RawMessage
	binaries    [][]byte
}

var errPacket = errors.New("invalid packet")

func decode(p []byte) (packet, error) {
	if len(p) == 0 || p[0] < '0' || p[0] > '6' {
		return packet{}, errPacket
	}
	pk := packet{typ: p[0], nsp: "/"}
	rest := p[1:]
	if pk.typ == '5' || pk.typ == '6' {
		i := bytes.IndexByte(rest, '-')
		n, err := strconv.Atoi(string(rest[:max(i, 0)]))
		if i <= 0 || err != nil || n < 0 || n > 10 {
			return packet{}, errPacket
		}
		pk.attachments, rest = n, rest[i+1:]
	}
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			pk.nsp, rest = string(rest), nil
		} else {
			pk.nsp, rest = string(rest[:i]), rest[i+1:]
		}
	}
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	pk.id, rest = string(rest[:i]), rest[i:]
	if len(rest) > 0 {
		if !json.Valid(rest) {
			return packet{}, errPacket
		}
		pk.data = rest
	}
	return pk, nil
}

func (pk packet) encode() []byte {
	b := []byte{pk.typ}
	if pk.typ == '5' || pk.typ == '6' {
		b = append(strconv.AppendInt(b, int64(len(pk.binaries)), 10), '-')
	}
	if pk.nsp != "/" {
		b = append(append(b, pk.nsp...), ',')
	}
	b = append(b, pk.id...)
	return append(b, pk.data...)
}

const afterConnect = 50 * time.Millisecond

var namespaces = map[string]bool{"/": true, "/custom": true}

type app struct {
	c         socketio.EngineConn
	mu        sync.Mutex
	connected map[string]bool
	timer     *time.Timer
}

func serveSocketIO(c socketio.EngineConn) {
	a := &app{c: c, connected: map[string]bool{}}
	a.timer = time.AfterFunc(connectTimeout, func() {
		a.mu.Lock()
		none := len(a.connected) == 0
		a.mu.Unlock()
		if none {
			_ = c.Close()
		}
	})
	defer a.timer.Stop()
	var partial *packet // a binary packet waiting for its attachments
	for {
		data, binary, err := c.Read()
		if err != nil {
			return
		}
		if binary {
			if partial == nil {
				_ = c.Close()
				return
			}
			partial.binaries = append(partial.binaries, data)
			if len(partial.binaries) < partial.attachments {
				continue
			}
			pk := *partial
			partial = nil
			if a.handle(pk) != nil {
				_ = c.Close()
				return
			}
			continue
		}
		pk, err := decode(data)
		if err == nil && partial != nil {
			err = errPacket // a packet before the attachments it announced
		}
		if err != nil {
			_ = c.Close()
			return
		}
		if pk.attachments > 0 {
			partial = &pk
			continue
		}
		if a.handle(pk) != nil {
			_ = c.Close()
			return
		}
	}
}

func (a *app) send(pk packet) error {
	if err := a.c.Write(pk.encode(), false); err != nil {
		return err
	}
	for _, b := range pk.binaries {
		if err := a.c.Write(b, true); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) handle(pk packet) error {
	a.mu.Lock()
	connected := a.connected[pk.nsp]
	a.mu.Unlock()
	switch pk.typ {
	case '0':
		if !namespaces[pk.nsp] {
			return a.send(packet{typ: '4', nsp: pk.nsp, data: json.RawMessage(`{"message":"Invalid namespace"}`)})
		}
		auth := pk.data
		if auth == nil {
			auth = json.RawMessage("{}")
		} else if auth[0] != '{' {
			return errPacket
		}
		a.mu.Lock()
		a.connected[pk.nsp] = true
		a.mu.Unlock()
		sid, _ := json.Marshal(map[string]string{"sid": a.c.ID() + pk.nsp})
		if err := a.send(packet{typ: '0', nsp: pk.nsp, data: sid}); err != nil {
			return err
		}
		// The reference server writes the connection handler's first emit
		// after the CONNECT write completes, a turn of its event loop
		// later. The suite depends on that: its ws client (8.5.0) emits
		// every frame of one socket read at once, and the suite listens
		// for the next frame only after awaiting the previous one, so two
		// frames in one read lose the second. A short pause keeps them in
		// separate reads on loopback.
		time.Sleep(afterConnect)
		return a.send(packet{typ: '2', nsp: pk.nsp, data: array(json.RawMessage(`"auth"`), auth)})
	case '1':
		a.mu.Lock()
		delete(a.connected, pk.nsp)
		a.mu.Unlock()
		return nil
	case '2', '5':
		if !connected {
			return errPacket
		}
		var args []json.RawMessage
		if json.Unmarshal(pk.data, &args) != nil || len(args) == 0 || args[0][0] != '"' {
			return errPacket
		}
		var name string
		_ = json.Unmarshal(args[0], &name)
		switch name {
		case "message":
			return a.send(packet{typ: pk.typ, nsp: pk.nsp, data: array(append([]json.RawMessage{json.RawMessage(`"message-back"`)}, args[1:]...)...), binaries: pk.binaries})
		case "message-with-ack":
			if pk.id == "" {
				return nil
			}
			typ := byte('3')
			if pk.typ == '5' {
				typ = '6'
			}
			return a.send(packet{typ: typ, nsp: pk.nsp, id: pk.id, data: array(args[1:]...), binaries: pk.binaries})
		}
		return nil
	}
	return errPacket // ACK (the server asks none), CONNECT_ERROR, BINARY_ACK
}

func array(items ...json.RawMessage) json.RawMessage {
	if items == nil {
		items = []json.RawMessage{}
	}
	b, _ := json.Marshal(items)
	return b
}
