package sioclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSplitPayload(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "one", in: "2:40", want: []string{"40"}},
		{name: "several", in: "1:6" + "2:40" + "3:4hi", want: []string{"6", "40", "4hi"}},
		// go-socket.io counts bytes ("ü" is two), not UTF-16 units as
		// JavaScript does.
		{name: "utf8", in: "5:4üü", want: []string{"4üü"}},
		{name: "utf16 count", in: "3:4üü", wantErr: true},
		{name: "empty packet", in: "0:", want: []string{""}},
		{name: "length too big", in: "9:40", wantErr: true},
		{name: "no colon", in: "12", wantErr: true},
		{name: "no length", in: ":40", wantErr: true},
		{name: "not a digit", in: "1a:4", wantErr: true},
		{name: "overflow", in: "99999999999999999999:4", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			b := []byte(tc.in)
			var err error
			for len(b) > 0 {
				var pkt []byte
				pkt, b, err = splitPayload(b)
				if err != nil {
					break
				}
				got = append(got, string(pkt))
			}
			if tc.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v; want ErrProtocol", err)
				}
				return
			}
			if err != nil || !equalStrings(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSIO(t *testing.T) {
	tests := []struct {
		in      string
		want    sioPacket
		wantErr bool
	}{
		{in: "0", want: sioPacket{typ: '0'}},
		{in: `2["a",1]`, want: sioPacket{typ: '2', data: []byte(`["a",1]`)}},
		{in: `212["a"]`, want: sioPacket{typ: '2', id: 12, hasID: true, data: []byte(`["a"]`)}},
		{in: `3/chat,7["x"]` + "\n", want: sioPacket{typ: '3', nsp: []byte("/chat"), id: 7, hasID: true, data: []byte(`["x"]`)}},
		{in: `52-/n,3[{"_placeholder":true,"num":0}]`, want: sioPacket{typ: '5', attachments: 2, nsp: []byte("/n"), id: 3, hasID: true, data: []byte(`[{"_placeholder":true,"num":0}]`)}},
		{in: "0/admin", want: sioPacket{typ: '0', nsp: []byte("/admin")}},
		{in: `4"denied"`, want: sioPacket{typ: '4', data: []byte(`"denied"`)}},
		{in: "318446744073709551615[]", want: sioPacket{typ: '3', id: 1<<64 - 1, hasID: true, data: []byte("[]")}},
		{in: "318446744073709551616[]", wantErr: true},
		{in: "5[]", wantErr: true},
		{in: "518446744073709551615-[]", wantErr: true},
		{in: "7", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSIO([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v; want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.typ != tc.want.typ || got.attachments != tc.want.attachments || !bytes.Equal(got.nsp, tc.want.nsp) ||
				got.id != tc.want.id || got.hasID != tc.want.hasID || !bytes.Equal(got.data, tc.want.data) {
				t.Fatalf("got %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `[]`, want: []string{}},
		{in: ` [ ] `, want: []string{}},
		{in: `["a"]`, want: []string{`"a"`}},
		{in: `["a", 1 ,true,null]`, want: []string{`"a"`, `1`, `true`, `null`}},
		{in: `["a,]\"[{",{"k":[1,2,{"x":","}]},[[],[]]]`, want: []string{`"a,]\"[{"`, `{"k":[1,2,{"x":","}]}`, `[[],[]]`}},
		{in: "[\n\"a\" ,\n {\"b\" : 2 }\n]\n", want: []string{`"a"`, `{"b" : 2 }`}},
		{in: `{"a":1}`, wantErr: true},
		{in: `["a"`, wantErr: true},
		{in: `["a",]`, wantErr: true},
		{in: ``, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := splitArray([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v; want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gs := make([]string, len(got))
			for i, g := range got {
				gs[i] = string(g)
			}
			if !equalStrings(gs, tc.want) {
				t.Fatalf("got %q; want %q", gs, tc.want)
			}
		})
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name    string
		id      uint64
		wantAck bool
		event   string
		args    []any
		want    string
	}{
		{name: "no args", event: "unsubscribe", want: `42["unsubscribe"]`},
		{name: "args", event: "subscribe", args: []any{map[string]int{"a": 1}, "x"}, want: `42["subscribe",{"a":1},"x"]`},
		{name: "ack id", id: 0, wantAck: true, event: "e", want: `420["e"]`},
		{name: "big ack id", id: 1<<64 - 1, wantAck: true, event: "e", want: `4218446744073709551615["e"]`},
		{name: "no HTML escaping", event: "<&>", args: []any{"ü<"}, want: `42["<&>","ü<"]`},
		{name: "raw message", event: "e", args: []any{json.RawMessage(` {"a" : 1} `)}, want: `42["e",{"a":1}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := appendEvent(&buf, tc.id, tc.wantAck, tc.event, tc.args); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Fatalf("got %s; want %s", buf.String(), tc.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := appendEvent(&buf, 0, false, "e", []any{func() {}}); err == nil {
		t.Fatal("encoding a func succeeded")
	}
}

// FuzzSplitArray checks the hand-written splitter against encoding/json.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{`[]`, `["a",1]`, `[{"a":[1,"]"]},"\"",null]`, `["\\",[[]]]`, `[1 , 2]`, `{}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := splitArray(data)
		var want []json.RawMessage
		werr := json.Unmarshal(data, &want)
		if (err == nil) != (werr == nil) {
			// json.Unmarshal accepts a JSON null as an empty slice;
			// splitArray wants an array.
			if werr == nil && want == nil {
				return
			}
			t.Fatalf("splitArray err %v, json.Unmarshal err %v", err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("got %d elements, want %d", len(got), len(want))
		}
		for i := range got {
			var a, b bytes.Buffer
			_ = json.Compact(&a, got[i])
			_ = json.Compact(&b, want[i])
			if a.String() != b.String() {
				t.Fatalf("element %d: got %s, want %s", i, got[i], want[i])
			}
		}
	})
}

// FuzzPayload feeds arbitrary poll answers through the reader's decoding:
// it must return errors, never panic.
func FuzzPayload(f *testing.F) {
	for _, s := range []string{"2:40", "1:6", `12:42["a",{}]`, "7:3[\"x\"]", "5:b4AAA", `9:451-["b"]`, "3:4\xff", "1:1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Client{
			connected: make(chan struct{}),
			quit:      make(chan struct{}),
			acks:      map[uint64]chan []json.RawMessage{},
			opts:      Options{OnEvent: func(Event) {}},
		}
		_ = c.handlePayload(data, time.Now())
		for len(data) > 0 {
			pkt, rest, err := splitPayload(data)
			if err != nil {
				return
			}
			if len(rest) >= len(data) {
				t.Fatal("splitPayload made no progress")
			}
			if len(pkt) > len(data) {
				t.Fatal("packet longer than payload")
			}
			data = rest
		}
	})
}

// BenchmarkHandleEvent is the load generator's hot path: one "stale"
// event read off a websocket and handed to OnEvent.
func BenchmarkHandleEvent(b *testing.B) {
	c := &Client{
		connected: make(chan struct{}),
		quit:      make(chan struct{}),
		opts:      Options{OnEvent: func(Event) {}},
	}
	frame := []byte(`42["stale",{"project:42":1058}]` + "\n")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.handlePacket(frame, now); err != nil {
			b.Fatal(err)
		}
	}
}
