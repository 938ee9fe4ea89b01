package socketio

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// origins decides which browser origins may connect. The Guard, the
// websocket upgrader and the engine's request checker all use this one
// function, so the two transports cannot disagree.
type origins struct {
	any   bool
	exact map[string]bool // normalized "scheme://host[:port]"
}

func parseOrigins(list []string) (origins, error) {
	o := origins{exact: map[string]bool{}}
	var firstErr error
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "*" {
			o.any = true
			continue
		}
		n, ok := normalizeOrigin(strings.TrimSuffix(s, "/"))
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("%q is not an origin like https://app.example.com", s)
			}
			continue
		}
		o.exact[n] = true
	}
	return o, firstErr
}

// allowed reports whether r may proceed. Requests without Origin come from
// non-browser clients, which no browser policy protects or constrains.
func (o origins) allowed(r *http.Request) bool {
	vs := r.Header.Values("Origin")
	if len(vs) == 0 {
		return true
	}
	if len(vs) > 1 {
		return false // browsers send one; two is an attempt to confuse someone
	}
	if o.any {
		return true
	}
	n, ok := normalizeOrigin(vs[0])
	if !ok {
		return false // "null" (sandboxed frames, file://) and garbage
	}
	if len(o.exact) > 0 {
		return o.exact[n]
	}
	// Same origin: the page is on the scheme and host the request went to.
	return n == requestOrigin(r)
}

// requestOrigin is the origin r was sent to, normalized as an Origin is, or
// "" when it has no usable Host. The scheme is https when r came over TLS
// here or, behind a proxy that terminates TLS, when the proxy says so in
// X-Forwarded-Proto. Trusting that header gives a hostile page nothing: a
// browser cannot set it on a websocket, and a client that can set it can
// set Origin too.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(proto), "https") {
		scheme = "https"
	}
	n, ok := normalizeOrigin(scheme + "://" + r.Host)
	if !ok {
		return ""
	}
	return n
}

// normalizeOrigin lower-cases scheme and host and drops default ports, so
// "HTTPS://App.Example.com:443" and "https://app.example.com" compare equal.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if (scheme == "http" && u.Port() == "80") || (scheme == "https" && u.Port() == "443") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return scheme + "://" + host, true
}
