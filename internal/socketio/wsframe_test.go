package socketio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/gorilla/websocket"
)

// maskedFrame encodes one client frame, as RFC 6455 has clients send them.
func maskedFrame(fin bool, op byte, payload []byte, key [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = binary.BigEndian.AppendUint16(append(f, 0x80|126), uint16(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 0x80|127), uint64(n))
	}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i&3])
	}
	return f
}

// feeder is a wsConn with just what consume needs: the control replies go
// to the other end of a pipe, which is drained.
func feeder(t testing.TB, limit int) *wsConn {
	t.Helper()
	server, client := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	cfg := Config{MaxFrameBytes: limit, Logger: slog.New(slog.DiscardHandler)}.withDefaults()
	return &wsConn{set: newTransportSet(cfg), nc: server}
}

// feed hands the chunks to consume in turn and returns the data messages
// held, binary ones prefixed with "b:", and the error that ended reading.
func feed(c *wsConn, chunks [][]byte) ([]string, error) {
	var err error
	for _, ch := range chunks {
		if err = c.consume(ch); err != nil {
			break
		}
	}
	var got []string
	for _, m := range c.held {
		s := m.buf.String()
		if m.binary {
			s = "b:" + s
		}
		got = append(got, s)
	}
	c.held = nil
	return got, err
}

// splitAt cuts b at random points.
func splitAt(b []byte, rng *rand.Rand) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(len(b))
		out = append(out, bytes.Clone(b[:n]))
		b = b[n:]
	}
	return out
}

// stream encodes the messages as client frames, fragmenting some and
// putting pings and pongs between fragments, and returns what a reader
// must deliver.
func stream(msgs []string, rng *rand.Rand) ([]byte, []string) {
	var b []byte
	var want []string
	for _, m := range msgs {
		key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), 7, byte(rng.Uint32())}
		op := byte(opText)
		w := m
		if len(m) > 0 && m[0] == 'B' {
			op, w = opBinary, "b:"+m
		}
		want = append(want, w)
		parts := 1 + rng.IntN(3)
		p := []byte(m)
		for i := range parts {
			n := len(p)
			if i < parts-1 {
				n = rng.IntN(len(p) + 1)
			}
			fop := op
			if i > 0 {
				fop = opContinuation
			}
			b = append(b, maskedFrame(i == parts-1, fop, p[:n], key)...)
			p = p[n:]
			if rng.IntN(2) == 0 {
				ctl := []byte{opPing, opPong}[rng.IntN(2)]
				b = append(b, maskedFrame(true, ctl, []byte("ctl"), key)...)
			}
		}
	}
	return b, want
}

func TestFrameReaderSplits(t *testing.T) {
	msgs := []string{"42[\"a\"]", "", "B\x00\x01", string(bytes.Repeat([]byte("x"), 300)), string(bytes.Repeat([]byte("y"), 70000)), "2"}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		b, want := stream(msgs, rng)
		got, err := feed(feeder(t, 1<<20), splitAt(b, rng))
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("seed %d: got %d messages, err %v; want %d", seed, len(got), err, len(want))
		}
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	unmasked := maskedFrame(true, opText, []byte("hi"), key)
	unmasked[1] &^= 0x80
	rsv := maskedFrame(true, opText, []byte("hi"), key)
	rsv[0] |= 0x40
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"one byte over the limit", maskedFrame(true, opText, make([]byte, 101), key), errFrameTooLarge},
		{"header alone claiming 64 MiB", binary.BigEndian.AppendUint64([]byte{0x81, 0x80 | 127}, 64<<20), errFrameTooLarge},
		{"fragments adding up over the limit", append(maskedFrame(false, opText, make([]byte, 60), key), maskedFrame(true, opContinuation, make([]byte, 41), key)...), errFrameTooLarge},
		{"unmasked", unmasked, errBadFrame},
		{"reserved bit", rsv, errBadFrame},
		{"unknown opcode", maskedFrame(true, 0x3, nil, key), errBadFrame},
		{"continuation without a message", maskedFrame(true, opContinuation, []byte("x"), key), errBadFrame},
		{"message inside a fragmented one", append(maskedFrame(false, opText, []byte("a"), key), maskedFrame(true, opText, []byte("b"), key)...), errBadFrame},
		{"fragmented ping", maskedFrame(false, opPing, nil, key), errBadFrame},
		{"ping over 125 bytes", maskedFrame(true, opPing, make([]byte, 126), key), errBadFrame},
		{"close with a one-byte payload", maskedFrame(true, opClose, []byte{3}, key), errBadFrame},
		{"close with code 1005", maskedFrame(true, opClose, []byte{0x03, 0xed}, key), errBadFrame},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := feed(feeder(t, 100), [][]byte{tc.input})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		got, err := feed(feeder(t, 100), [][]byte{maskedFrame(true, opText, make([]byte, 100), key)})
		if err != nil || len(got) != 1 {
			t.Fatalf("got %d messages, err %v", len(got), err)
		}
	})
	t.Run("close frame ends reading", func(t *testing.T) {
		in := append(maskedFrame(true, opText, []byte("before"), key), maskedFrame(true, opClose, []byte{0x03, 0xe9, 'b', 'y', 'e'}, key)...)
		in = append(in, maskedFrame(true, opText, []byte("after"), key)...)
		got, err := feed(feeder(t, 100), [][]byte{in})
		var ce *websocket.CloseError
		if !slices.Equal(got, []string{"before"}) || !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "bye" {
			t.Fatalf("got %q, err %v", got, err)
		}
	})
}

// The reader never panics and never holds more than the limit, whatever it
// is fed; a valid stream cut anywhere reads the same.
func FuzzFrameReader(f *testing.F) {
	key := [4]byte{9, 8, 7, 6}
	f.Add(maskedFrame(true, opText, []byte("42[\"x\"]"), key), uint64(1))
	f.Add(append(maskedFrame(false, opText, []byte("a"), key), maskedFrame(true, opContinuation, []byte("b"), key)...), uint64(2))
	f.Add(binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, 1<<62), uint64(3))
	f.Add([]byte{0x88, 0x80, 0, 0, 0, 0}, uint64(4))
	const limit = 256
	f.Fuzz(func(t *testing.T, garbage []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 2))
		c := feeder(t, limit)
		got, err := feed(c, splitAt(bytes.Clone(garbage), rng))
		for _, m := range got {
			if len(m) > limit+2 {
				t.Fatalf("held a %d-byte message over the %d limit", len(m), limit)
			}
		}
		if err == nil && len(c.in) > limit+14 {
			t.Fatalf("kept %d bytes of a frame", len(c.in))
		}
		// The garbage's bytes as messages, framed validly, split at random.
		var msgs []string
		for m := range bytes.SplitSeq(garbage, []byte{0}) {
			msgs = append(msgs, string(m))
		}
		b, want := stream(msgs, rng)
		got, err = feed(feeder(t, 1<<20), splitAt(b, rng))
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("valid stream: got %q, err %v; want %q", got, err, want)
		}
	})
}
