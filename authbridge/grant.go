package authbridge

import (
	"strings"
	"time"
)

// grants is a compiled list of grant patterns: exact topics and prefixes.
type grants struct {
	exact    map[string]struct{}
	prefixes []string
}

// compileGrants turns the patterns from a token or a callback answer into
// grants. Patterns that could only grant by accident are dropped: "" matches
// no valid topic, and a bare "*" would grant every topic (see the package
// documentation).
func compileGrants(patterns []string) grants {
	g := grants{exact: make(map[string]struct{}, len(patterns))}
	for _, p := range patterns {
		switch {
		case p == "" || p == "*":
		case strings.HasSuffix(p, "*"):
			g.prefixes = append(g.prefixes, p[:len(p)-1])
		default:
			g.exact[p] = struct{}{}
		}
	}
	return g
}

// covers reports whether topic is granted. A prefix only covers topics that
// continue past it, so "acct:*" does not cover "acct:" itself.
func (g grants) covers(topic string) bool {
	if _, ok := g.exact[topic]; ok {
		return true
	}
	for _, p := range g.prefixes {
		if len(topic) > len(p) && strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

// decide sorts topics into granted and denied-with-deny. Granted keeps the
// request's order without repeats, so the client's ack mirrors what it sent.
func decide(topics []string, g grants, deny error, expires time.Time) Decision {
	d := Decision{Granted: []string{}, Denied: map[string]string{}}
	seen := make(map[string]struct{}, len(topics))
	for _, t := range topics {
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = struct{}{}
		if g.covers(t) {
			d.Granted = append(d.Granted, t)
			if _, exact := g.exact[t]; !exact {
				d.ByPrefix = append(d.ByPrefix, t)
			}
		} else {
			d.Denied[t] = deny.Error()
		}
	}
	if len(d.Granted) > 0 {
		d.Expires = expires
	}
	return d
}

// denyAll refuses every topic for one whole-request reason.
func denyAll(topics []string, err error) Decision {
	d := Decision{Granted: []string{}, Denied: make(map[string]string, len(topics))}
	r := reason(err)
	for _, t := range topics {
		d.Denied[t] = r
	}
	return d
}
