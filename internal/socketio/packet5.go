package socketio

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/googollee/go-socket.io/engineio/session"
)

// errConnect: what an Engine.IO 4 client sent first was not a CONNECT
// whose payload, if any, is a JSON object.
var errConnect = errors.New("socketio: expected a CONNECT packet, 0[/namespace,][{auth}]")

// parseConnect reads a socket.io 5 CONNECT, 0[/<namespace>[?query],][<json
// object>], and returns the namespace ("/" for the root, without its query)
// and the auth payload (nil if there is none). In protocol 5 the client
// asks to connect every namespace, the root too, and may send credentials
// with it (`io(url, {auth})`).
func parseConnect(ft session.FrameType, p []byte) (ns string, auth json.RawMessage, err error) {
	if ft != session.TEXT || len(p) == 0 || p[0] != '0' {
		return "", nil, errConnect
	}
	rest := p[1:]
	ns = "/"
	if len(rest) > 0 && rest[0] == '/' {
		end := bytes.IndexByte(rest, ',')
		name := rest
		if end >= 0 {
			name, rest = rest[:end], rest[end+1:]
		} else {
			rest = nil
		}
		if q := bytes.IndexByte(name, '?'); q >= 0 {
			name = name[:q]
		}
		ns = string(name)
	}
	if len(rest) == 0 {
		return ns, nil, nil
	}
	if !json.Valid(rest) || rest[skipSpace(rest, 0)] != '{' {
		return "", nil, errConnect
	}
	return ns, rest, nil
}

// connectAnswer is the server's CONNECT for the root namespace, naming the
// socket: 0{"sid":"…"}.
func connectAnswer(sid string) []byte {
	return append(append([]byte(`0{"sid":"`), sid...), `"}`...)
}

// connectError is CONNECT_ERROR for namespace ns ("" or "/" for the root):
// 4[/ns,]{"message":"…"}, which a socket.io 4 client raises as
// connect_error with that message.
func connectError(ns, msg string) []byte {
	p := []byte{'4'}
	if ns != "" && ns != "/" {
		p = append(append(p, ns...), ',')
	}
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return append(p, b...)
}
