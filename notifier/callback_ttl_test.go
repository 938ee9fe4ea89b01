package notifier

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpoll/pushpoll/authbridge"
)

// appTransport is the main app's authorize endpoint in memory: it answers
// every call with answer and counts the calls. Without a network the
// callback runs inside a synctest bubble.
type appTransport struct {
	answer string
	calls  atomic.Int64
}

func (a *appTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	a.calls.Add(1)
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(a.answer)),
		Request:    r,
	}, nil
}

// A callback answer is cached for its ttl on the node's clock. A second
// socket with the same credentials just before the ttl ends costs no app
// call, and its grant lapses with the cached answer, not a ttl after its
// own subscribe. At exactly the ttl, and not a nanosecond before, both
// sockets are told `expired`, and the next subscribe asks the app again.
func TestCallbackCacheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Minute
		cfg := Default()
		cfg.AuthCallbackURL = "http://app.example/pushpoll/authorize"
		s := bubbleServer(t, cfg)
		app := &appTransport{answer: fmt.Sprintf(`{"topics":["doc:*"],"ttl":%d}`, int(ttl.Seconds()))}
		auth, err := authbridge.New(authbridge.Config{
			CallbackURL:        cfg.AuthCallbackURL,
			HTTPClient:         &http.Client{Transport: app},
			CallbackDefaultTTL: cfg.CallbackTTL,
			CallbackMaxTTL:     cfg.CallbackMaxTTL,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.events.auth = auth
		subscribe := func(sk *socket, topic string, calls int64) {
			t.Helper()
			var a subscribeAck
			raw := fmt.Sprintf(`{"topics":{%q:0}}`, topic)
			if err := json.Unmarshal(s.events.onSubscribe(sk, json.RawMessage(raw)), &a); err != nil || len(a.Granted) != 1 {
				t.Fatalf("subscribe %s: ack %+v (%v)", topic, a, err)
			}
			if got := app.calls.Load(); got != calls {
				t.Fatalf("after subscribing %s: %d app calls, want %d", topic, got, calls)
			}
		}
		first, firstConn := bubbleSocket(s, "a", "Cookie", "sid=alice")
		second, secondConn := bubbleSocket(s, "b", "Cookie", "sid=alice")
		defer s.events.onDisconnect(first)
		defer s.events.onDisconnect(second)

		subscribe(first, "doc:1", 1)
		time.Sleep(ttl - time.Second)
		subscribe(second, "doc:2", 1) // from the cache
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		if !first.holds("doc:1") || !second.holds("doc:2") || len(firstConn.named("expired"))+len(secondConn.named("expired")) != 0 {
			t.Fatalf("a grant lapsed before the answer's ttl: holds %v %v, told %v %v",
				first.holds("doc:1"), second.holds("doc:2"), firstConn.named("expired"), secondConn.named("expired"))
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		for _, c := range []struct {
			sk    *socket
			conn  *fakeSIOConn
			topic string
		}{{first, firstConn, "doc:1"}, {second, secondConn, "doc:2"}} {
			if want := fmt.Sprintf(`{"topics":[%q]}`, c.topic); c.sk.holds(c.topic) || !slices.Equal(c.conn.named("expired"), []string{want}) {
				t.Fatalf("at the ttl: holds %s %v, told %v, want told %s", c.topic, c.sk.holds(c.topic), c.conn.named("expired"), want)
			}
		}
		subscribe(first, "doc:1", 2) // the cached answer lapsed with the grants
	})
}
