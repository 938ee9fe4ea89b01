// Package clientip finds the address of the client behind a request. Behind
// a load balancer every connection comes from the balancer, so the client is
// named in X-Forwarded-For; but anyone can send that header, so it is read
// only when the connection comes from a proxy the operator trusts
// (--trusted-proxies), and only as far back as trusted proxies wrote it.
package clientip

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many X-Forwarded-For entries are looked at: no real
// chain of proxies is longer, and a trusted proxy that passes on a client's
// header of thousands of entries must not cost more than this.
const maxHops = 32

// Resolver takes the client address from X-Forwarded-For when the peer is a
// trusted proxy. The zero value trusts nobody: the peer is the client.
type Resolver struct {
	trusted []netip.Prefix
}

// Private is what the word "private" stands for in ParseTrusted: loopback
// and the private and unique-local ranges, where load balancers live. A peer
// there is inside the operator's network, so its X-Forwarded-For is believed;
// a peer on a public address never is. (Rails trusts the same ranges by
// default.)
var Private = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// ParseTrusted reads CIDRs (or single addresses) like "10.0.0.0/8" or
// "::1", and the words "private" (the ranges in Private) and "none" (nobody,
// for a flag whose default is "private"); an error names the entry that is
// none of these.
func ParseTrusted(list []string) (Resolver, error) {
	var r Resolver
	var errs []error
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" || s == "none" {
			continue
		}
		if s == "private" {
			for _, p := range Private {
				r.trusted = append(r.trusted, netip.MustParsePrefix(p))
			}
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			r.trusted = append(r.trusted, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8, an address, or \"private\"", s))
	}
	return r, errors.Join(errs...)
}

// Trusted reports whether a is one of the trusted proxies.
func (r Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Request is the client address of req: see Addr.
func (r Resolver) Request(req *http.Request) netip.Addr {
	return r.Addr(req.RemoteAddr, req.Header.Values("X-Forwarded-For"))
}

// Addr is the client address behind a connection from remote (host:port, as
// http.Request.RemoteAddr) that carried the X-Forwarded-For lines xff.
// Walking the entries from the right (the one the nearest proxy appended),
// each entry is believed only while the address that handed it over is
// trusted; the first address that is not trusted is the client. An entry
// that does not parse ends the walk at the trusted proxy that passed it on:
// it names no client, and guessing past it would let a client choose. The
// result is invalid only when remote itself does not parse.
func (r Resolver) Addr(remote string, xff []string) netip.Addr {
	addr := parseHost(remote)
	if !addr.IsValid() || len(r.trusted) == 0 {
		return addr
	}
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" && r.Trusted(addr) {
			if hops++; hops > maxHops {
				return addr
			}
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, entry = line[:j], line[j+1:]
			} else {
				line, entry = "", line
			}
			next := parseHost(strings.TrimSpace(entry))
			if !next.IsValid() {
				return addr
			}
			addr = next
		}
		if !r.Trusted(addr) {
			return addr
		}
	}
	return addr
}

// parseHost reads an address with or without a port ("203.0.113.7",
// "203.0.113.7:4711", "[2001:db8::1]:443", "2001:db8::1"), unmapping
// IPv4-in-IPv6 so one client has one form. Zones are dropped: they name an
// interface of the host that saw the address, not a client.
func parseHost(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		host, _, serr := net.SplitHostPort(s)
		if serr != nil {
			return netip.Addr{}
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}
		}
	}
	return a.Unmap().WithZone("")
}
