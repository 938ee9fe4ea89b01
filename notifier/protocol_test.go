package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// TestProtocolsSideBySide: socket.io 2 (EIO=3) and socket.io 4 (EIO=4)
// clients share one node, its topics and its hints; the sockets gauge says
// which protocol each speaks; an EIO=4 auth payload subscribes, and its
// refusal fails the connect with the subscribe's reason; other EIO values
// are refused and counted.
func TestProtocolsSideBySide(t *testing.T) {
	n := startNode(t, testConfig())
	v3 := dial(t, n, sioclient.Options{})
	v4 := dial(t, n, sioclient.Options{EIO: 4})
	auth, _ := json.Marshal(map[string]any{"token": token(t, "both"), "topics": map[string]int64{"both": 1}})
	v4auth := dial(t, n, sioclient.Options{EIO: 4, Auth: auth})
	waitFor(t, 5*time.Second, "sockets counted by protocol", func() bool {
		m := metric(t, n, "pushpoll_sockets_by_protocol")
		return strings.Contains(m, `protocol="eio3"} 1`) && strings.Contains(m, `protocol="eio4"} 2`)
	})
	for _, c := range []*client{v3, v4} {
		if a := c.subscribe(token(t, "both"), map[string]int64{"both": 1}); len(a.Granted) != 1 {
			t.Fatalf("subscribe: %+v", a)
		}
	}
	if code, body := publishHTTP(t, n, publishSecret, `{"topic":"both","v":2}`); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	for name, c := range map[string]*client{"eio3": v3, "eio4": v4, "eio4 auth": v4auth} {
		t.Run(name, func(t *testing.T) { c.waitHint("both", 2, 5*time.Second) })
	}

	denied, _ := json.Marshal(map[string]any{"token": token(t, "other"), "topics": map[string]int64{"both": 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sioclient.Dial(ctx, n.url, sioclient.Options{EIO: 4, Auth: denied})
	if !errors.Is(err, sioclient.ErrRefused) || !strings.Contains(err.Error(), `"message":"not in token"`) {
		t.Fatalf("refused auth: %v", err)
	}

	resp, err := http.Get(n.url + "/socket.io/?EIO=5&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("EIO=5: %d", resp.StatusCode)
	}
	if m := metric(t, n, "pushpoll_wire_rejected_total"); !strings.Contains(m, `reason="unsupported protocol"} 1`) {
		t.Fatalf("unsupported protocol not counted:\n%s", m)
	}
	_ = v4.Close()
	waitFor(t, 5*time.Second, "a closed eio4 socket leaves the gauge", func() bool {
		return strings.Contains(metric(t, n, "pushpoll_sockets_by_protocol"), `protocol="eio4"} 1`)
	})
}
