package socketio

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// origins decides which browser origins may connect. The Guard, the
// websocket upgrader and the engine's request checker all use this one
// function, so the two transports cannot disagree.
type origins struct {
	any   bool
	exact map[string]bool // normalized "scheme://host[:port]"
	wild  []wildOrigin
}

// wildOrigin is a pattern like https://*.example.com: any subdomain of
// example.com, at any depth, on that scheme and port; not example.com
// itself, not another scheme or port.
type wildOrigin struct {
	scheme string
	suffix string // ".example.com"
	port   string // "" for the scheme's default
}

func (w wildOrigin) matches(scheme, host, port string) bool {
	return scheme == w.scheme && port == w.port && len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix)
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
		if strings.Contains(s, "*") {
			w, err := parseWild(s)
			if err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			o.wild = append(o.wild, w)
			continue
		}
		n, ok := normalizeOrigin(strings.TrimSuffix(s, "/"))
		if !ok {
			firstErr = cmp.Or(firstErr, fmt.Errorf("%q is not an origin like https://app.example.com", s))
			continue
		}
		o.exact[n] = true
	}
	return o, firstErr
}

// CheckOrigin says whether s is an entry Config.AllowedOrigins accepts: *,
// an origin, or a wildcard origin like https://*.example.com.
func CheckOrigin(s string) error {
	_, err := parseOrigins([]string{s})
	return err
}

// parseWild reads https://*.example.com[:port]. The * must be the whole
// first label, and at least two labels must follow it: *.com would admit
// every site under a top-level domain.
func parseWild(s string) (wildOrigin, error) {
	bad := func(why string) (wildOrigin, error) {
		return wildOrigin{}, fmt.Errorf("%q is not a wildcard origin like https://*.example.com: %s", s, why)
	}
	scheme, rest, ok := strings.Cut(strings.TrimSuffix(s, "/"), "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return bad("the scheme must be http or https")
	}
	after, ok := strings.CutPrefix(rest, "*.")
	if !ok || strings.Contains(after, "*") {
		return bad("only a whole first label may be *")
	}
	n, ok := normalizeOrigin(scheme + "://" + after)
	if !ok {
		return bad("the rest is not a host[:port]")
	}
	u, _ := url.Parse(n)
	host := u.Hostname()
	if net.ParseIP(host) != nil || !strings.Contains(host, ".") {
		return bad("a wildcard needs a domain of at least two labels after it")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("the port must be 1-65535")
		}
	}
	return wildOrigin{scheme: scheme, suffix: "." + host, port: u.Port()}, nil
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
	if len(o.exact) > 0 || len(o.wild) > 0 {
		if o.exact[n] {
			return true
		}
		u, _ := url.Parse(n)
		for _, w := range o.wild {
			if w.matches(u.Scheme, u.Hostname(), u.Port()) {
				return true
			}
		}
		return false
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
