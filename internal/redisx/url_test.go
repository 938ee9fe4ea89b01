package redisx

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, raw string
		want      URL
	}{
		{"single", "redis://127.0.0.1:6379", URL{Kind: Single, Addrs: []string{"127.0.0.1:6379"}}},
		{"single db and password", "redis://:s%40cret@h:1/3", URL{Kind: Single, Addrs: []string{"h:1"}, Password: "s@cret", DB: 3}},
		{"lone word is the password", "redis://secret@h:1", URL{Kind: Single, Addrs: []string{"h:1"}, Password: "secret"}},
		{"acl user", "rediss://app:pw@h:1/0", URL{Kind: Single, Addrs: []string{"h:1"}, Username: "app", Password: "pw", TLS: true}},
		{"sentinel", "redis-sentinel://a:26379,b:26380/mymaster", URL{Kind: Sentinel, Addrs: []string{"a:26379", "b:26380"}, Master: "mymaster"}},
		{"sentinel db user tls", "rediss-sentinel://app:pw@[::1]:26379/m/2", URL{Kind: Sentinel, Addrs: []string{"[::1]:26379"}, Master: "m", DB: 2, Username: "app", Password: "pw", TLS: true}},
		{"cluster", "redis-cluster://app:pw@a:7000,b:7001,c:7002", URL{Kind: Cluster, Addrs: []string{"a:7000", "b:7001", "c:7002"}, Username: "app", Password: "pw"}},
		{"cluster tls trailing slash", "rediss-cluster://a:7000/", URL{Kind: Cluster, Addrs: []string{"a:7000"}, TLS: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", c.raw, got, c.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct{ name, raw, says string }{
		{"empty", "", "unknown scheme"},
		{"http", "http://h:1", "unknown scheme"},
		{"no port", "redis://h", "not host:port"},
		{"bad port", "redis://h:99999", "no valid port"},
		{"two hosts single", "redis://a:1,b:2", "several hosts"},
		{"sentinel without master", "redis-sentinel://a:1", "master name is missing"},
		{"sentinel empty master", "redis-sentinel://a:1/", "master name is missing"},
		{"cluster with db", "redis-cluster://a:1/2", "only database 0"},
		{"bad db", "redis://a:1/x", "not a number"},
		{"negative db", "redis://a:1/-1", "not a number"},
		{"extra path", "redis-sentinel://a:1/m/2/3", "too many"},
		{"query", "redis://a:1?db=2", "query strings"},
		{"empty host in list", "redis-cluster://a:1,,b:2", "not host:port"},
		{"bad escape", "redis://u:%zz@a:1", "URL-encoded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.raw)
			if !errors.Is(err, ErrURL) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Parse(%q) = %v, want an ErrURL saying %q", c.raw, err, c.says)
			}
		})
	}
}

func TestParseErrorsAndStringHideThePassword(t *testing.T) {
	_, err := Parse("redis://u:hunter2@a:1/x")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v must exist and not carry the password", err)
	}
	u, err := Parse("rediss-sentinel://u:hunter2@a:1,b:2/m/1")
	if err != nil {
		t.Fatal(err)
	}
	if got := u.String(); got != "rediss-sentinel://a:1,b:2/m/1" {
		t.Fatalf("String() = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"redis://a:1", "redis-sentinel://u:p@a:1,b:2/m/3", "rediss-cluster://a:1,b:2", "redis://:%41@h:1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := Parse(raw)
		if err != nil {
			return
		}
		if len(u.Addrs) == 0 || (u.Kind == Sentinel) != (u.Master != "") {
			t.Fatalf("Parse(%q) accepted %+v", raw, u)
		}
		again, err := Parse(u.String())
		if err != nil || !reflect.DeepEqual(again.Addrs, u.Addrs) || again.Kind != u.Kind || again.DB != u.DB {
			t.Fatalf("String() of %q does not parse back: %q %v", raw, u.String(), err)
		}
	})
}
