package socketio

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/googollee/go-socket.io/engineio/packet"
	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/googollee/go-socket.io/parser"
)

func TestInspect(t *testing.T) {
	tests := []struct {
		name   string
		pt     packet.Type
		data   string
		wantPT packet.Type
		reason string
	}{
		{"event", packet.MESSAGE, `2["echo","x"]`, packet.MESSAGE, ""},
		{"event with ack id", packet.MESSAGE, `21["echo","x"]`, packet.MESSAGE, ""},
		{"ack", packet.MESSAGE, `37["ok"]`, packet.MESSAGE, ""},
		{"event in namespace", packet.MESSAGE, `2/chat,3["x"]`, packet.MESSAGE, ""},
		{"namespace connect", packet.MESSAGE, `0/chat`, packet.MESSAGE, ""},
		{"namespace disconnect", packet.MESSAGE, `1/chat`, packet.MESSAGE, ""},
		{"empty message", packet.MESSAGE, ``, packet.MESSAGE, ""},
		{"ping", packet.PING, `probe`, packet.PING, ""},
		{"ping that looks binary", packet.PING, `51-`, packet.PING, ""},
		{"upgrade", packet.UPGRADE, ``, packet.UPGRADE, ""},

		{"binary event", packet.MESSAGE, `51-["x",{"_placeholder":true,"num":0}]`, packet.MESSAGE, reasonBinary},
		{"binary ack", packet.MESSAGE, `61-1[{"_placeholder":true,"num":0}]`, packet.MESSAGE, reasonBinary},
		{"2^64-1 attachments", packet.MESSAGE, `518446744073709551615-["x","a"]`, packet.MESSAGE, reasonBinary},
		{"1e7 attachments", packet.MESSAGE, `510000000-["x","a"]`, packet.MESSAGE, reasonBinary},
		{"attachments on a plain event", packet.MESSAGE, `218446744073709551615-["x","a"]`, packet.MESSAGE, reasonBinary},
		{"attachments on an ack", packet.MESSAGE, `310000000-["x"]`, packet.MESSAGE, reasonBinary},
		{"attachment dash without digits", packet.MESSAGE, `2-["x"]`, packet.MESSAGE, reasonBinary},
		{"bare binary type", packet.MESSAGE, `5`, packet.MESSAGE, reasonBinary},

		{"root connect", packet.MESSAGE, `0`, packet.NOOP, ""},
		{"root connect with slash", packet.MESSAGE, `0/,`, packet.NOOP, ""},
		{"root connect with query", packet.MESSAGE, `0/?token=x,`, packet.NOOP, ""},
		{"root connect with id", packet.MESSAGE, `01`, packet.NOOP, ""},
		{"root disconnect", packet.MESSAGE, `1`, packet.CLOSE, ""},
		{"root disconnect with slash", packet.MESSAGE, `1/`, packet.CLOSE, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, reason := inspect(tt.pt, []byte(tt.data))
			if pt != tt.wantPT || reason != tt.reason {
				t.Errorf("inspect(%v, %q) = %v, %q; want %v, %q", tt.pt, tt.data, pt, reason, tt.wantPT, tt.reason)
			}
		})
	}
}

// FuzzInspect checks the property the check exists for: whatever it lets
// through, go-socket.io's parser decodes without panicking and without
// waiting for binary attachments.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		`2["echo","x"]`, `21["subscribe",{"token":"t","topics":{"a":1}}]`, `37["ok"]`,
		`518446744073709551615-["x","a"]`, `218446744073709551615-["x","a"]`, `2/n,18446744073709551615-[]`,
		`2["x",{"_placeholder":true,"num":99}]`, `0/chat?x=1,`, `1`, `4"err"`, `9`, "2\xff[",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pt, reason := inspect(packet.MESSAGE, []byte(s))
		if reason != "" || pt != packet.MESSAGE {
			return
		}
		fr := &oneFrame{data: s}
		d := parser.NewDecoder(fr)
		var h parser.Header
		var event string
		if err := d.DecodeHeader(&h, &event); err != nil {
			return
		}
		// The notifier's handlers take JSON values, never parser.Buffer.
		types := []reflect.Type{reflect.TypeOf(map[string]any{}), reflect.TypeOf([]string{})}
		_, _ = d.DecodeArgs(types)
		if fr.calls > 1 {
			t.Fatalf("parser asked for %d frames for %q: it is waiting for attachments", fr.calls, s)
		}
	})
}

// oneFrame feeds the parser one text frame, then reports end of stream.
type oneFrame struct {
	data  string
	calls int
}

func (f *oneFrame) NextReader() (session.FrameType, io.ReadCloser, error) {
	f.calls++
	if f.calls > 1 {
		return 0, nil, errors.New("no more frames")
	}
	return session.TEXT, io.NopCloser(strings.NewReader(f.data)), nil
}
