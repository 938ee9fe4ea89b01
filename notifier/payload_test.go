package notifier

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParsePayload(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		v, ts   int64
		wantErr error
	}{
		{"json", `{"v":1057}`, 1057, 0, nil},
		{"json with ts", `{"v":1057,"ts":1700000000000}`, 1057, 1700000000000, nil},
		{"json with spaces", ` { "v" : 3 } `, 3, 0, nil},
		{"bare integer", `1057`, 1057, 0, nil},
		{"bare zero means poll", `0`, 0, 0, nil},
		{"json zero", `{"v":0}`, 0, 0, nil},
		{"max int64", `9223372036854775807`, 9223372036854775807, 0, nil},
		{"unknown fields ignored", `{"v":2,"by":"rails"}`, 2, 0, nil},
		{"bad ts ignored", `{"v":2,"ts":"soon"}`, 2, 0, nil},
		{"negative ts ignored", `{"v":2,"ts":-5}`, 2, 0, nil},
		{"empty", ``, 0, 0, ErrMissingVersion},
		{"missing v", `{"ts":1}`, 0, 0, ErrMissingVersion},
		{"null v", `{"v":null}`, 0, 0, ErrMissingVersion},
		{"string v", `{"v":"5"}`, 0, 0, ErrBadVersion},
		{"float v", `{"v":1.5}`, 0, 0, ErrBadVersion},
		{"exponent v", `{"v":1e3}`, 0, 0, ErrBadVersion},
		{"negative v", `{"v":-1}`, 0, 0, ErrBadVersion},
		{"negative bare", `-7`, 0, 0, ErrBadVersion},
		{"overflow", `9223372036854775808`, 0, 0, ErrBadVersion},
		{"array", `[1]`, 0, 0, ErrBadVersion},
		{"bad json", `{"v":`, 0, 0, ErrBadJSON},
		{"trailing json", `{"v":1}{"v":2}`, 0, 0, ErrBadJSON},
		{"text", `hello`, 0, 0, ErrBadVersion},
		{"too large", `{"v":1,"pad":"` + strings.Repeat("x", 1100) + `"}`, 0, 0, ErrPayloadTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, ts, err := ParsePayload([]byte(c.in))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				if Reason(err) != c.wantErr.Error() {
					t.Fatalf("Reason = %q, want %q", Reason(err), c.wantErr.Error())
				}
				return
			}
			if err != nil || v != c.v || ts != c.ts {
				t.Fatalf("got (%d, %d, %v), want (%d, %d, nil)", v, ts, err, c.v, c.ts)
			}
		})
	}
}

func TestValidTopic(t *testing.T) {
	good := []string{"a", "project:42", "user:7:inbox", "a.b-c_d/e@f", strings.Repeat("x", 200)}
	bad := []string{"", " ", "a b", "emoji✓", "semi;colon", "star*", strings.Repeat("x", 201), "new\nline", "nul\x00"}
	for _, s := range good {
		if !ValidTopic(s) {
			t.Errorf("ValidTopic(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidTopic(s) {
			t.Errorf("ValidTopic(%q) = true, want false", s)
		}
	}
}

// FuzzParsePayload: never panics, and anything accepted is a non-negative
// version that round-trips through the encoder the in-process broker uses.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{`{"v":1}`, `1057`, `{"v":1,"ts":2}`, `{"v":-1}`, `{`, `[]`, `{"v":1e99}`, "\xff", `{"v":9223372036854775807}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		v, ts, err := ParsePayload(p)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if v < 0 || ts < 0 {
			t.Fatalf("accepted negative: v=%d ts=%d", v, ts)
		}
		v2, ts2, err := ParsePayload(encodeBump(v, ts))
		if err != nil || v2 != v || ts2 != ts {
			t.Fatalf("round trip of (%d,%d) = (%d,%d,%v)", v, ts, v2, ts2, err)
		}
	})
}

// FuzzValidTopic: the validator agrees with the DESIGN §1 definition.
func FuzzValidTopic(f *testing.F) {
	for _, s := range []string{"project:42", "", "a b", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) >= 1 && len(s) <= 200
		for _, r := range s {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/@-", r) {
				want = false
			}
		}
		if got := ValidTopic(s); got != want {
			t.Fatalf("ValidTopic(%q) = %v, want %v", s, got, want)
		}
	})
}

// The feature flag lives where no topic can reach: whatever the prefix, no
// valid topic makes prefix + topic the flag key, so a publish (by HTTP, a
// helper or the app's own script) can never set the flag.
func TestFlagKeyIsOutsideTheTopicNamespace(t *testing.T) {
	for _, prefix := range []string{"pushpoll:", "", "app1-", "a:#"} {
		key := FlagKey(prefix)
		topic, ok := strings.CutPrefix(key, prefix)
		if ok && ValidTopic(topic) {
			t.Errorf("prefix %q: topic %q reaches the flag key %q", prefix, topic, key)
		}
	}
}

func TestReservedTopicOnEveryPath(t *testing.T) {
	if err := CheckTopic(ReservedTopic); !errors.Is(err, ErrReservedTopic) {
		t.Errorf("CheckTopic(%q) = %v, want ErrReservedTopic", ReservedTopic, err)
	}
	if _, err := parsePublishBody([]byte(`[{"topic":"a","v":1},{"topic":"mode","v":1}]`)); !errors.Is(err, ErrReservedTopic) {
		t.Errorf("HTTP publish of mode: err = %v, want ErrReservedTopic", err)
	}
	if got := Reason(fmt.Errorf("x: %w", ErrReservedTopic)); got != "reserved topic" {
		t.Errorf("Reason = %q", got)
	}
}
