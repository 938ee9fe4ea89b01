package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestAddr(t *testing.T) {
	r, err := ParseTrusted([]string{"10.0.0.0/8", "::1", " 192.168.1.1 "})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy trusted: the peer", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted peer without header", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"behind one balancer", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a forged entry left of the real one", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.1.2.3:5000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"hops over several header lines", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"an entry with a port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"an IPv6 entry with a port", "10.1.2.3:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv4 in IPv6 from the proxy", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 loopback proxy", "[::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"a single trusted address", "192.168.1.1:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"junk ends the walk at the proxy", "10.1.2.3:5000", []string{"unknown"}, "10.1.2.3"},
		{"junk behind a good entry", "10.1.2.3:5000", []string{"junk, 198.51.100.1"}, "198.51.100.1"},
		{"all hops trusted", "10.1.2.3:5000", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"empty entries", "10.1.2.3:5000", []string{" , "}, "10.1.2.3"},
		{"an untrusted peer's header is ignored", "198.51.100.5:1", []string{"10.0.0.1"}, "198.51.100.5"},
		{"a zone is dropped", "10.1.2.3:5000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"bad remote", "nonsense", []string{"198.51.100.1"}, "invalid IP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Addr(c.remote, c.xff).String(); got != c.want {
				t.Fatalf("Addr(%q, %q) = %s, want %s", c.remote, c.xff, got, c.want)
			}
		})
	}
}

func TestLongChainsAreBounded(t *testing.T) {
	r, _ := ParseTrusted([]string{"10.0.0.0/8"})
	chain := "198.51.100.1" + strings.Repeat(", 10.0.0.1", 1000)
	if got := r.Addr("10.0.0.2:1", []string{chain}); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("a chain of 1000 trusted hops resolved to %s, want the hop where the walk stopped", got)
	}
}

func TestParseTrustedNamesTheBadEntry(t *testing.T) {
	_, err := ParseTrusted([]string{"10.0.0.0/8", "10.0.0.0/33", "lb.internal"})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) || !strings.Contains(err.Error(), `"lb.internal"`) {
		t.Fatalf("err = %v, want both bad entries named", err)
	}
}

func TestRequest(t *testing.T) {
	r, _ := ParseTrusted([]string{"127.0.0.1"})
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "127.0.0.1:9"
	req.Header.Add("X-Forwarded-For", "198.51.100.3")
	if got := r.Request(req).String(); got != "198.51.100.3" {
		t.Fatalf("Request = %s", got)
	}
	var none Resolver
	if got := none.Request(req).String(); got != "127.0.0.1" {
		t.Fatalf("zero Resolver trusted the header: %s", got)
	}
}

// FuzzAddr: whatever the header says, the result is the peer when the peer
// is not trusted, and otherwise the peer or an address the header holds.
func FuzzAddr(f *testing.F) {
	f.Add("10.1.2.3:5000", "198.51.100.1, 10.9.9.9")
	f.Add("[::1]:1", "[2001:db8::1]:443,junk")
	f.Add("203.0.113.7:1", "10.0.0.1")
	f.Add("10.0.0.1:1", ",,,")
	r, _ := ParseTrusted([]string{"10.0.0.0/8", "::1/128"})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := r.Addr(remote, []string{xff})
		peer := parseHost(remote)
		if !peer.IsValid() {
			if got.IsValid() {
				t.Fatalf("a bad remote %q gave %s", remote, got)
			}
			return
		}
		if !got.IsValid() {
			t.Fatalf("valid remote %q gave no address", remote)
		}
		if !r.Trusted(peer) {
			if got != peer {
				t.Fatalf("untrusted peer %s: got %s from the header", peer, got)
			}
			return
		}
		if got == peer {
			return
		}
		for _, e := range strings.Split(xff, ",") {
			if parseHost(strings.TrimSpace(e)) == got {
				return
			}
		}
		t.Fatalf("%s is neither the peer nor in the header %q", got, xff)
	})
}

func TestPrivateTrustsTheOperatorsNetworkOnly(t *testing.T) {
	r, err := ParseTrusted([]string{"private"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer    string
		trusted bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.1.2.3", true}, {"172.31.255.1", true},
		{"192.168.0.9", true}, {"fd00::1", true}, {"::ffff:10.0.0.1", true},
		{"172.32.0.1", false}, {"8.8.8.8", false}, {"2001:db8::1", false}, {"100.64.0.1", false},
	} {
		if got := r.Trusted(netip.MustParseAddr(tc.peer)); got != tc.trusted {
			t.Errorf("Trusted(%s) = %v, want %v", tc.peer, got, tc.trusted)
		}
	}
}
