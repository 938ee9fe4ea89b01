package notifier_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/sioclient"
)

func TestHTTPPublishRequestsCountedByResult(t *testing.T) {
	n := startNode(t, testConfig())
	for _, r := range []string{"accepted", "unauthorized", "off", "too_large", "bad_request", "unavailable"} {
		if metric(t, n, `pushpoll_http_publish_requests_total{result="`+r+`"}`) == "" {
			t.Errorf("result %s not exported at zero", r)
		}
	}
	publishHTTP(t, n, publishSecret, `{"topic":"t","v":1}`)
	publishHTTP(t, n, "wrong-secret-0123456789", `{"topic":"t","v":1}`)
	publishHTTP(t, n, publishSecret, `{"topic":"t"}`)
	for result, want := range map[string]float64{"accepted": 1, "unauthorized": 1, "bad_request": 1, "unavailable": 0} {
		if got := metricValue(t, n, `pushpoll_http_publish_requests_total{result="`+result+`"}`); got != want {
			t.Errorf("%s = %v, want %v", result, got, want)
		}
	}
	if got := metricValue(t, n, "pushpoll_http_publish_duration_seconds_count"); got != 3 {
		t.Errorf("publish latency observations = %v, want 3", got)
	}
}

func TestCallbackRequestsCountedByResult(t *testing.T) {
	app := newFakeApp(t)
	app.grant("sid=ok", `{"topics":["t"]}`)
	n := callbackNode(t, app)
	for cookie, want := range map[string]int{"sid=ok": 1, "sid=nobody": 0} {
		c := dial(t, n, sioclient.Options{Header: http.Header{"Cookie": {cookie}}})
		if got := len(c.subscribe("", map[string]int64{"t": 0}).Granted); got != want {
			t.Errorf("%s granted %d topics, want %d", cookie, got, want)
		}
	}
	for result, want := range map[string]float64{"ok": 1, "denied": 1, "timeout": 0, "unreachable": 0, "failed": 0, "bad_answer": 0} {
		if got := metricValue(t, n, `pushpoll_auth_callback_requests_total{result="`+result+`"}`); got != want {
			t.Errorf("%s = %v, want %v", result, got, want)
		}
	}
	if got := metricValue(t, n, "pushpoll_auth_callback_duration_seconds_count"); got != 2 {
		t.Errorf("callback latency observations = %v, want 2", got)
	}
}

func TestSocketsByTransport(t *testing.T) {
	n := startNode(t, testConfig())
	dial(t, n, sioclient.Options{})
	dial(t, n, sioclient.Options{Transport: "polling"})
	dial(t, n, sioclient.Options{Transport: "polling", Upgrade: true})
	waitFor(t, 10*time.Second, "sockets by transport", func() bool {
		return metricValue(t, n, `pushpoll_sockets_by_transport{transport="websocket"}`) == 2 &&
			metricValue(t, n, `pushpoll_sockets_by_transport{transport="polling"}`) == 1
	})
}
