package socketio

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/googollee/go-socket.io/engineio/session"
)

// FuzzEIO4Post feeds a long-polling POST body to an Engine.IO 4 session
// and each message it yields to the packet layer's parsers. Whatever the
// body, nothing panics, a refusal leaves the session closed, and what
// reaches the reader is a message within MaxFrameBytes.
func FuzzEIO4Post(f *testing.F) {
	for _, seed := range []string{
		"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "3", "1", "6",
		"40", `40{"token":"x","topics":{"a":1}}`, "40/custom,", `42["subscribe",{"token":"t"}]`,
		`421["echo",1]`, `451-["x",{"_placeholder":true,"num":0}]`, "abc", "", "\x1e", "b", "b!!", "2:40", "4\x1e",
	} {
		f.Add([]byte(seed))
	}
	cfg := Config{MaxFrameBytes: 256, MaxPollBody: 1024}.withDefaults()
	set := newTransportSet(cfg)
	e := newEngine4(set, nil, func(*session4) {})
	f.Fuzz(func(t *testing.T, body []byte) {
		s := newSession4(e, httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling", nil))
		defer s.closeWith(closeError)
		// The session's reader: it takes messages until the session ends.
		done := make(chan []message4)
		go func() {
			var got []message4
			for {
				select {
				case m := <-s.inbox:
					got = append(got, m)
				case <-s.closed:
					done <- got
					return
				}
			}
		}()
		if reason := s.feed(body); reason != "" && !s.isClosed() {
			// What the POST handler does next.
			s.closeWith(closeError)
		}
		s.closeWith(closeError)
		for _, m := range <-done {
			if m.buf.Len() > cfg.MaxFrameBytes {
				t.Fatalf("a message of %d bytes passed a %d byte limit", m.buf.Len(), cfg.MaxFrameBytes)
			}
			p := bytes.Clone(m.buf.Bytes())
			set.putBuf(m.buf)
			ft := session.TEXT
			if m.binary {
				ft = session.BINARY
			}
			_, _, _ = parseConnect(ft, p)
			if check4(ft, p) == "" {
				_, _, _ = parsePacket(p)
			}
		}
	})
}
