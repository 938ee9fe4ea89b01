package socketio

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNodeAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, b := []byte("secret-a-0123456789abcdef0123456789"), []byte("secret-b-0123456789abcdef0123456789")
	uri := "/socket.io/?EIO=3&transport=polling&sid=nodeAAAAxyz"
	req := func(method, uri, from string) *http.Request {
		r, _ := http.NewRequest(method, "http://owner"+uri, nil)
		r.Header.Set(ForwardedHeader, from)
		return r
	}
	proof := signForward(a, http.MethodGet, uri, "nodeB000", now)
	cases := []struct {
		name    string
		secrets [][]byte
		r       *http.Request
		proof   string
		at      time.Time
		ok      bool
	}{
		{"signed", [][]byte{a}, req(http.MethodGet, uri, "nodeB000"), proof, now, true},
		{"a rotated secret list", [][]byte{b, a}, req(http.MethodGet, uri, "nodeB000"), proof, now.Add(29 * time.Second), true},
		{"another secret", [][]byte{b}, req(http.MethodGet, uri, "nodeB000"), proof, now, false},
		{"stale", [][]byte{a}, req(http.MethodGet, uri, "nodeB000"), proof, now.Add(31 * time.Second), false},
		{"from the future", [][]byte{a}, req(http.MethodGet, uri, "nodeB000"), proof, now.Add(-31 * time.Second), false},
		{"another method", [][]byte{a}, req(http.MethodPost, uri, "nodeB000"), proof, now, false},
		{"another session", [][]byte{a}, req(http.MethodGet, strings.Replace(uri, "xyz", "xyw", 1), "nodeB000"), proof, now, false},
		{"another forwarder", [][]byte{a}, req(http.MethodGet, uri, "nodeC000"), proof, now, false},
		{"no proof", [][]byte{a}, req(http.MethodGet, uri, "nodeB000"), "", now, false},
		{"a timestamp only", [][]byte{a}, req(http.MethodGet, uri, "nodeB000"), "1800000000.", now, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkForward(c.secrets, c.r, c.proof, c.at); got != c.ok {
				t.Fatalf("checkForward = %v, want %v", got, c.ok)
			}
		})
	}
	ans := answerProof(a, proof)
	if !checkAnswer([][]byte{b, a}, proof, ans) || checkAnswer([][]byte{b}, proof, ans) || checkAnswer([][]byte{a}, proof+"0", ans) || checkAnswer([][]byte{a}, proof, "zz") {
		t.Fatal("answer proofs do not bind the secret and the request")
	}
}

// FuzzCheckForward: no proof a client can write verifies without the
// secret, and none makes the check panic.
func FuzzCheckForward(f *testing.F) {
	secret := []byte("secret-a-0123456789abcdef0123456789")
	now := time.Unix(1_800_000_000, 0)
	f.Add(signForward(secret, http.MethodGet, "/socket.io/?sid=x", "n", now), "n")
	f.Add("1800000000.zz", "")
	f.Add("-9223372036854775808.00", "x")
	f.Add("9223372036854775807.", "x")
	f.Fuzz(func(t *testing.T, proof, from string) {
		r, _ := http.NewRequest(http.MethodGet, "http://owner/socket.io/?sid=y", nil)
		r.Header.Set(ForwardedHeader, from)
		if checkForward([][]byte{secret}, r, proof, now) && proof != signForward(secret, r.Method, r.URL.RequestURI(), r.Header.Get(ForwardedHeader), now) {
			ts, _, _ := strings.Cut(proof, ".")
			// Only the node's own signature, possibly with another
			// spelling of its timestamp (leading zeros, a sign), passes.
			if !strings.HasPrefix(strings.TrimLeft(ts, "+0"), "1800000") {
				t.Fatalf("a forged proof %q verified", proof)
			}
		}
		checkAnswer([][]byte{secret}, proof, from)
	})
}
