package notifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// MaxPayloadBytes bounds one published payload (DESIGN §1). A version bump
// is a few dozen bytes; anything near this size is a mistake or an attack.
const MaxPayloadBytes = 1024

// MaxTopicLen bounds a topic name (DESIGN §1).
const MaxTopicLen = 200

// Reasons a publish is dropped. They are stable: metrics are labelled with
// them and operators alert on them.
var (
	ErrPayloadTooLarge = errors.New("payload too large")
	ErrBadJSON         = errors.New("bad json")
	ErrBadVersion      = errors.New("bad version")
	ErrMissingVersion  = errors.New("missing version")
	ErrBadTopic        = errors.New("bad topic")
	ErrReservedTopic   = errors.New("reserved topic")
)

// ReservedTopic is the one valid topic no path may subscribe or publish
// (DESIGN §8). It named the feature flag's key when that key was
// <prefix>mode; the key has moved out of the topic namespace (FlagKey), and
// the name stays reserved so that no old publisher or subscriber can mistake
// a topic for the flag.
const ReservedTopic = "mode"

// CheckTopic reports why topic cannot be published or subscribed, or nil.
func CheckTopic(topic string) error {
	switch {
	case !ValidTopic(topic):
		return ErrBadTopic
	case topic == ReservedTopic:
		return ErrReservedTopic
	}
	return nil
}

// Bump is one published version change.
type Bump struct {
	Topic string
	// V is the topic's new version; 0 means "unknown: poll to be sure".
	V int64
	// TS is the publisher's clock in unix milliseconds, 0 when absent. It is
	// only used to measure publish-to-emit latency.
	TS int64
}

// ValidTopic reports whether s is 1–200 characters of A-Z a-z 0-9 _ . : / @ -.
// The alphabet keeps topics safe to put in Redis channel names, log fields
// and metric-free error messages without escaping.
func ValidTopic(s string) bool {
	if len(s) == 0 || len(s) > MaxTopicLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !topicByte[s[i]] {
			return false
		}
	}
	return true
}

var topicByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_.:/@-" {
		t[c] = true
	}
	return t
}()

// ParsePayload reads a published payload: a JSON object {"v":N[,"ts":T]} or
// a bare decimal integer. Errors wrap one of the Err* reasons above.
func ParsePayload(p []byte) (v, ts int64, err error) {
	if len(p) > MaxPayloadBytes {
		return 0, 0, ErrPayloadTooLarge
	}
	p = bytes.TrimSpace(p)
	if len(p) == 0 {
		return 0, 0, ErrMissingVersion
	}
	if p[0] != '{' {
		v, err := parseVersion(string(p))
		return v, 0, err
	}
	// Raw fields, so a quoted "5" is refused as a wrong type instead of
	// being read as a number.
	var msg struct {
		V  json.RawMessage `json:"v"`
		TS json.RawMessage `json:"ts"`
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	if err := dec.Decode(&msg); err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if dec.More() {
		return 0, 0, fmt.Errorf("%w: trailing data", ErrBadJSON)
	}
	if len(msg.V) == 0 || string(msg.V) == "null" {
		return 0, 0, ErrMissingVersion
	}
	if v, err = parseVersion(string(msg.V)); err != nil {
		return 0, 0, err
	}
	// A bad timestamp only costs a latency sample, not the bump.
	if t, err := strconv.ParseInt(string(msg.TS), 10, 64); err == nil && t > 0 {
		ts = t
	}
	return v, ts, nil
}

func parseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// s is a JSON value as sent (a string keeps its quotes), bounded;
		// quoting it again would escape it twice once the error is sent
		// back as JSON.
		return 0, fmt.Errorf("%w: %s is not an int64", ErrBadVersion, truncate(s, 32))
	}
	if v < 0 {
		return 0, fmt.Errorf("%w: negative", ErrBadVersion)
	}
	return v, nil
}

// Reason maps a parse error to its short, stable label.
func Reason(err error) string {
	for _, r := range []error{ErrPayloadTooLarge, ErrBadJSON, ErrBadVersion, ErrMissingVersion, ErrBadTopic, ErrReservedTopic} {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return "other"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
