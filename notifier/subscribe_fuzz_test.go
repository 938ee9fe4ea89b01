package notifier

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeSIOConn is a socketio.Conn without a network, for driving the event
// handlers directly. Its zero value is session "fuzz" with no headers, open.
type fakeSIOConn struct {
	fakeConn
	id     string
	header http.Header
	err    error // how the connection ended, as the wire would say
}

func (c *fakeSIOConn) ID() string {
	if c.id == "" {
		return "fuzz"
	}
	return c.id
}
func (c *fakeSIOConn) Header() http.Header { return c.header.Clone() }
func (c *fakeSIOConn) Err() error          { return c.err }
func (c *fakeSIOConn) Transport() string   { return "websocket" }
func (c *fakeSIOConn) RemoteAddr() string  { return "192.0.2.1:1234" }
func (c *fakeSIOConn) Protocol() string    { return "eio3" }

const fuzzSecret = "fuzz-secret-0123456789abcdef0123456789"

// FuzzSubscribeFrame feeds arbitrary subscribe payloads to the handler: it
// never panics, and never grants a topic that was not asked for, is not a
// valid topic, or is not covered by a token signed with the node's secret
// (the seeds carry one granting acct:*).
func FuzzSubscribeFrame(f *testing.F) {
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u", "aud": "pushpoll", "topics": []string{"acct:*"}, "exp": time.Now().Add(24 * time.Hour).Unix(),
	}).SignedString([]byte(fuzzSecret))
	for _, seed := range []string{
		`{"token":"` + good + `","topics":{"acct:1":0,"acctx:2":0,"acct":3}}`,
		`{"token":"` + good + `","topics":{"acct:1":-5,"mode":0,"a b":1}}`,
		`{"token":"garbage","topics":{"acct:1":0}}`,
		`{"topics":[]}`, `[]`, `null`, `"x"`, `{"token":1}`, `{`,
	} {
		f.Add([]byte(seed))
	}
	cfg := Default()
	cfg.TokenSecret = fuzzSecret
	cfg.MaxTopicsPerSocket = 50
	cfg.SubscribeBurst = 1 << 30
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sk := s.events.onConnect(&fakeSIOConn{})
		defer s.events.onDisconnect(sk)
		var ack subscribeAck
		if err := json.Unmarshal(s.events.onSubscribe(sk, json.RawMessage(raw)), &ack); err != nil {
			t.Fatalf("ack does not decode: %v", err)
		}
		if len(ack.Granted) == 0 {
			return
		}
		var req subscribeRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatalf("granted %v from an unparseable frame", ack.Granted)
		}
		for _, topic := range ack.Granted {
			if _, asked := req.Topics[topic]; !asked {
				t.Fatalf("granted %q, which was not asked for", topic)
			}
			if !ValidTopic(topic) || !strings.HasPrefix(topic, "acct:") || len(topic) == len("acct:") {
				t.Fatalf("granted %q beyond the token's acct:*", topic)
			}
			if _, denied := ack.Denied[topic]; denied {
				t.Fatalf("%q both granted and denied", topic)
			}
		}
	})
}
