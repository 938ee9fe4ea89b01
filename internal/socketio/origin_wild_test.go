package socketio

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWildcardOrigins(t *testing.T) {
	o, err := parseOrigins([]string{"https://*.example.com", "http://*.dev.example.org:8443", "https://app.other.net"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://a.b.example.com", true},
		{"HTTPS://App.Example.COM:443", true},
		{"https://example.com", false},              // the domain itself is not a subdomain
		{"https://badexample.com", false},           // a suffix without the dot
		{"https://app.example.com.evil.net", false}, // the domain as a prefix
		{"http://app.example.com", false},           // scheme must match
		{"https://app.example.com:8443", false},     // port must match
		{"http://x.dev.example.org:8443", true},
		{"http://x.dev.example.org", false},
		{"https://app.other.net", true},
		{"https://x.app.other.net", false}, // exact entries stay exact
		{"null", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://node.internal/socket.io/", nil)
		r.Header.Set("Origin", c.origin)
		if got := o.allowed(r); got != c.want {
			t.Errorf("%s allowed = %v, want %v", c.origin, got, c.want)
		}
	}
}

func TestMalformedWildcardOriginsRefused(t *testing.T) {
	for _, p := range []string{
		"https://*example.com", "https://a*.example.com", "https://app.*.example.com",
		"https://*.*.example.com", "https://*.com", "https://*", "*://app.example.com",
		"ftp://*.example.com", "https://*.example.com/path", "https://*.127.0.0.1", "https://*.example.com:99999",
	} {
		err := CheckOrigin(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("CheckOrigin(%q) = %v, want a refusal naming it", p, err)
		}
	}
	for _, p := range []string{"*", "https://*.example.com", "http://*.example.com:8080", "https://app.example.com"} {
		if err := CheckOrigin(p); err != nil {
			t.Errorf("CheckOrigin(%q) = %v", p, err)
		}
	}
}
