package socketio

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParsePacket(t *testing.T) {
	cases := []struct {
		packet   string
		ok       bool
		err      error
		name     string
		arg, id  string
		noArg    bool
		noAction bool
	}{
		{packet: `2["echo","x"]`, ok: true, name: "echo", arg: `"x"`},
		{packet: `21["echo",{"a":[1,"]"]},2]`, ok: true, name: "echo", arg: `{"a":[1,"]"]}`, id: "1"},
		{packet: `2 [ "echo" , [ 1 , 2 ] ]`, ok: true, name: "echo", arg: `[ 1 , 2 ]`},
		{packet: `2[ "echo" , [ 1 , 2 ] ]`, ok: true, name: "echo", arg: `[ 1 , 2 ]`},
		{packet: `2["echo",-1.5e3]`, ok: true, name: "echo", arg: `-1.5e3`},
		{packet: `2["echo","a\"],b"]`, ok: true, name: "echo", arg: `"a\"],b"`},
		{packet: `2["echo",null]`, ok: true, name: "echo", arg: `null`},
		{packet: `2["echo"]`, ok: true, name: "echo", noArg: true},
		{packet: `2["e\"cho",1]`, ok: true, name: `e\"cho`, arg: `1`},
		{packet: `2/,7["echo",true]`, ok: true, name: "echo", arg: `true`, id: "7"},
		{packet: `2123456789012345678["echo",1]`, ok: true, name: "echo", arg: "1", id: "123456789012345678"},
		{packet: `21234567890123456789["echo",1]`, err: errAckID},
		{packet: `2/chat,["echo",1]`, noAction: true},
		{packet: `1/chat,`, noAction: true},
		{packet: `31["x"]`, noAction: true},
		{packet: `0/chat,`, err: errNamespace},
		{packet: `0/chat`, err: errNamespace},
		{packet: `4"boom"`, err: errPacketType},
		{packet: `7`, err: errPacketType},
		{packet: ``, err: errEmptyPacket},
		{packet: `2`, err: errEventPayload},
		{packet: `2[`, err: errEventPayload},
		{packet: `2[]`, err: errEventPayload},
		{packet: `2[1,2]`, err: errEventPayload},
		{packet: `2{"echo":1}`, err: errEventPayload},
		{packet: `2["echo",1]x`, err: errEventPayload},
	}
	for _, c := range cases {
		ev, ok, err := parsePacket([]byte(c.packet))
		switch {
		case c.err != nil:
			if !errors.Is(err, c.err) {
				t.Errorf("%q: err %v, want %v", c.packet, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.packet, err)
		case c.noAction:
			if ok {
				t.Errorf("%q: dispatched, want ignored", c.packet)
			}
		case !ok:
			t.Errorf("%q: ignored", c.packet)
		default:
			if string(ev.name) != c.name || string(ev.id) != c.id || string(ev.arg) != c.arg || (ev.arg == nil) != c.noArg {
				t.Errorf("%q: name %q id %q arg %q, want %q %q %q", c.packet, ev.name, ev.id, ev.arg, c.name, c.id, c.arg)
			}
		}
	}
}

func TestEventName(t *testing.T) {
	for raw, want := range map[string]string{`echo`: "echo", `e\"cho`: `e"cho`, `\u0065cho`: "echo"} {
		if got, ok := eventName([]byte(raw)); !ok || got != want {
			t.Errorf("eventName(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}

func TestAckPacket(t *testing.T) {
	if got := string(ackPacket([]byte("12"), json.RawMessage(`{"a":1}`))); got != `312[{"a":1}]` {
		t.Errorf("ack = %s", got)
	}
	if got := string(ackPacket([]byte("0"), nil)); got != `30[null]` {
		t.Errorf("ack of nothing = %s", got)
	}
}

// FuzzParsePacket: no packet panics the parser, and what it dispatches has
// a name and an argument that are JSON of their own.
func FuzzParsePacket(f *testing.F) {
	for _, seed := range []string{`2["echo","x"]`, `21["a",{"b":[1,"]"]},2]`, `2/chat,["x"]`, `0/a`, `2["\"",1]`, `2[""]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		ev, ok, err := parsePacket(p)
		if !ok || err != nil {
			return
		}
		if !json.Valid(append(append([]byte{'"'}, ev.name...), '"')) {
			t.Fatalf("%q: name %q is not a JSON string's content", p, ev.name)
		}
		if ev.arg != nil && !json.Valid(ev.arg) {
			t.Fatalf("%q: argument %q is not JSON", p, ev.arg)
		}
	})
}
