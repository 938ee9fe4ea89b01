package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseGroups(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []group
		wantErr string
	}{
		{"fanout", "fan:1:10000", []group{{Name: "fan", Count: 1, Size: 10000}}, ""},
		{"with rates", "s:2000:10:3000, b:4:1000:2.5", []group{{"s", 2000, 10, 3000}, {"b", 4, 1000, 2.5}}, ""},
		{"empty", "", nil, "no group"},
		{"too few fields", "s:10", nil, "name:count:size"},
		{"zero size", "s:10:0", nil, "size"},
		{"negative rate", "s:10:1:-1", nil, "rate"},
		{"duplicate", "s:1:1,s:2:2", nil, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGroups(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTopicsOf(t *testing.T) {
	gs := []group{{Name: "s", Count: 3, Size: 2}, {Name: "b", Count: 1, Size: 3}}
	if n := span(gs); n != 6 {
		t.Fatalf("span = %d, want 6", n)
	}
	for _, tc := range []struct {
		j    int
		want []string
	}{
		{0, []string{"r:s:0", "r:b:0"}},
		{1, []string{"r:s:0", "r:b:0"}},
		{2, []string{"r:s:1", "r:b:0"}},
		{3, []string{"r:s:1"}},
		{5, []string{"r:s:2"}},
		{6, nil},
	} {
		if got := topicsOf("r", gs, tc.j); !slices.Equal(got, tc.want) {
			t.Errorf("topicsOf(%d) = %v, want %v", tc.j, got, tc.want)
		}
	}
}

func TestSourceAddr(t *testing.T) {
	base := netip.MustParseAddr("127.0.0.2")
	for _, tc := range []struct {
		j       int
		want    string
		wantErr bool
	}{
		{0, "127.0.0.2", false},
		{999, "127.0.0.2", false},
		{1000, "127.0.0.3", false},
		{254000, "127.0.1.0", false}, // carries into the next octet
		{1 << 34, "", true},          // leaves 127.0.0.0/8
	} {
		got, err := sourceAddr(base, 1000, tc.j)
		if tc.wantErr {
			if err == nil {
				t.Errorf("sourceAddr(%d) = %v, want an error", tc.j, got)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("sourceAddr(%d) = %v, %v; want %s", tc.j, got, err, tc.want)
		}
	}
}

func TestMintToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok := mintToken(secret, "lg", "pushpoll", []string{"run:*"}, time.Hour)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: want 3 parts", tok)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(parts[0] + "." + parts[1]))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); parts[2] != want {
		t.Fatal("bad HS256 signature")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub    string   `json:"sub"`
		Aud    string   `json:"aud"`
		Exp    int64    `json:"exp"`
		Topics []string `json:"topics"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Sub != "lg" || c.Aud != "pushpoll" || !slices.Equal(c.Topics, []string{"run:*"}) || c.Exp <= time.Now().Unix() {
		t.Errorf("claims %+v", c)
	}
}
