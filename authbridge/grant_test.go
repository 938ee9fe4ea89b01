package authbridge

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestGrantsCovers(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		topic    string
		want     bool
	}{
		{name: "exact", patterns: []string{"project:42"}, topic: "project:42", want: true},
		{name: "exact is not a prefix", patterns: []string{"project:4"}, topic: "project:42"},
		{name: "exact is case-sensitive", patterns: []string{"project:42"}, topic: "PROJECT:42"},
		{name: "prefix covers a child", patterns: []string{"acct:*"}, topic: "acct:1", want: true},
		{name: "prefix covers a grandchild", patterns: []string{"acct:*"}, topic: "acct:1:2", want: true},
		{name: "prefix does not cover its stem", patterns: []string{"acct:*"}, topic: "acct"},
		{name: "prefix does not cover itself", patterns: []string{"acct:*"}, topic: "acct:"},
		{name: "prefix does not cover a sibling", patterns: []string{"acct:*"}, topic: "acctx:2"},
		{name: "prefix without separator is literal", patterns: []string{"acct*"}, topic: "acctx:2", want: true},
		{name: "bare star grants nothing", patterns: []string{"*"}, topic: "acct:1"},
		{name: "bare star does not cover a star topic", patterns: []string{"*"}, topic: "*"},
		{name: "empty pattern grants nothing", patterns: []string{""}, topic: ""},
		{name: "star only special at the end", patterns: []string{"a*b"}, topic: "axb"},
		{name: "double star is a prefix ending in star", patterns: []string{"acct:**"}, topic: "acct:1"},
		{name: "any of several", patterns: []string{"x", "user:7:*", "y"}, topic: "user:7:inbox", want: true},
		{name: "no patterns", patterns: nil, topic: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compileGrants(tt.patterns).covers(tt.topic); got != tt.want {
				t.Errorf("%q covers %q = %v, want %v", tt.patterns, tt.topic, got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	exp := t0.Add(time.Minute)
	tests := []struct {
		name        string
		topics      []string
		wantGranted []string
		wantDenied  map[string]string
		wantExpires time.Time
	}{
		{name: "keeps request order", topics: []string{"b:1", "a:1"}, wantGranted: []string{"b:1", "a:1"}, wantDenied: map[string]string{}, wantExpires: exp},
		{name: "drops repeats", topics: []string{"a:1", "a:1", "c", "c"}, wantGranted: []string{"a:1"}, wantDenied: map[string]string{"c": "not in token"}, wantExpires: exp},
		{name: "nothing granted has no expiry", topics: []string{"c"}, wantGranted: []string{}, wantDenied: map[string]string{"c": "not in token"}},
		{name: "no topics", topics: nil, wantGranted: []string{}, wantDenied: map[string]string{}},
	}
	g := compileGrants([]string{"a:*", "b:*"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.topics, g, ErrNotInToken, exp)
			if !reflect.DeepEqual(d.Granted, tt.wantGranted) || !reflect.DeepEqual(d.Denied, tt.wantDenied) || !d.Expires.Equal(tt.wantExpires) {
				t.Errorf("decide = %+v, want granted %q denied %q expires %v", d, tt.wantGranted, tt.wantDenied, tt.wantExpires)
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "sentinel", err: ErrExpired, want: "expired"},
		{name: "wrapped sentinel keeps the short text", err: errors.Join(errors.New("detail"), ErrBadSignature), want: "bad signature"},
		{name: "unknown error does not leak", err: errors.New("dial tcp 10.0.0.1:443: secret detail"), want: "auth unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reason(tt.err); got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
		})
	}
}
