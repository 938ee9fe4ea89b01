package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// group is a set of equally sized topics: Count topics, each held by Size
// sockets, bumped Rate times a second in total (sustain only).
//
// Socket j (global index, across every load generator process) holds topic
// j/Size of the group while j < Count*Size, so the layout is the same
// whichever process a socket lives in, and a socket can hold one topic of
// several groups (e.g. a small topic and a big one).
type group struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	Size  int     `json:"size"`
	Rate  float64 `json:"rate,omitempty"`
}

// parseGroups reads "name:count:size[:rate],...".
func parseGroups(s string) ([]group, error) {
	var gs []group
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, ":")
		if len(f) < 3 || len(f) > 4 || f[0] == "" {
			return nil, fmt.Errorf("--groups: %q is not name:count:size[:rate]", part)
		}
		g := group{Name: f[0]}
		var err error
		if g.Count, err = strconv.Atoi(f[1]); err != nil || g.Count < 1 {
			return nil, fmt.Errorf("--groups: %q: count must be a positive integer", part)
		}
		if g.Size, err = strconv.Atoi(f[2]); err != nil || g.Size < 1 {
			return nil, fmt.Errorf("--groups: %q: size must be a positive integer", part)
		}
		if len(f) == 4 {
			if g.Rate, err = strconv.ParseFloat(f[3], 64); err != nil || g.Rate < 0 {
				return nil, fmt.Errorf("--groups: %q: rate must be a non-negative number", part)
			}
		}
		for _, o := range gs {
			if o.Name == g.Name {
				return nil, fmt.Errorf("--groups: group %q twice", g.Name)
			}
		}
		gs = append(gs, g)
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("--groups: no group")
	}
	return gs, nil
}

// span is how many sockets the groups need: the largest group.
func span(gs []group) int {
	n := 0
	for _, g := range gs {
		n = max(n, g.Count*g.Size)
	}
	return n
}

// topicName is the i-th topic of group g in run run.
func topicName(run, g string, i int) string {
	return run + ":" + g + ":" + strconv.Itoa(i)
}

// topicsOf lists the topics socket j holds.
func topicsOf(run string, gs []group, j int) []string {
	var ts []string
	for _, g := range gs {
		if j < g.Count*g.Size {
			ts = append(ts, topicName(run, g.Name, j/g.Size))
		}
	}
	return ts
}

// sourceAddr is socket j's source IP: base + j/perIP, so that no source
// address needs more than perIP of the ~28,000 ephemeral ports.
func sourceAddr(base netip.Addr, perIP, j int) (netip.Addr, error) {
	if !base.Is4() {
		return netip.Addr{}, fmt.Errorf("--src-base %s: want an IPv4 address", base)
	}
	b := base.As4()
	n := binary.BigEndian.Uint32(b[:]) + uint32(j/perIP)
	binary.BigEndian.PutUint32(b[:], n)
	a := netip.AddrFrom4(b)
	if b[0] != 127 {
		return netip.Addr{}, fmt.Errorf("socket %d: source address %s leaves 127.0.0.0/8 (lower --src-base or raise --per-ip)", j, a)
	}
	return a, nil
}

// mintToken makes an HS256 JWT as an app would: sub, aud, exp and the topic
// patterns the bearer may subscribe to.
func mintToken(secret []byte, sub, aud string, topics []string, ttl time.Duration) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"sub":    sub,
		"aud":    aud,
		"exp":    time.Now().Add(ttl).Unix(),
		"iat":    time.Now().Unix(),
		"topics": topics,
	})
	signing := header + "." + enc.EncodeToString(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}
