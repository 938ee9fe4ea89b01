package notifier

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxPublishItems bounds one POST /v1/publish array: a batch is for one
// transaction's worth of bumps, not a bulk import.
const maxPublishItems = 1000

// V is raw so that a quoted "5" is refused as a wrong type, as on the
// Redis path, instead of being read as a number.
type publishItem struct {
	Topic string          `json:"topic"`
	V     json.RawMessage `json:"v"`
	TS    int64           `json:"ts"`
}

// handlePublish is POST /v1/publish (DESIGN §1): one object or an array,
// bearer publisher secret. Every item is checked before any is published,
// so a 400 means nothing was published.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	secret := s.publishSecret.get()
	if secret == "" {
		writeError(w, http.StatusNotFound, "HTTP publish is off: start the notifier with --publish-secret")
		return
	}
	if !bearerOK(r, secret) {
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer publisher secret")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxPublishBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", s.cfg.MaxPublishBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "could not read body")
		return
	}
	items, err := parsePublishBody(body)
	if err != nil {
		s.m.rejected.WithLabelValues("http " + Reason(err)).Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if bp, ok := s.broker.(BatchPublisher); ok && len(items) > 1 {
		raised, err := bp.PublishBatch(r.Context(), items)
		if err != nil {
			s.log.Warn("batch publish failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "broker unavailable; part of the batch may be published (retrying is safe)")
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]int{"received": len(items), "raised": raised})
		return
	}
	accepted := 0
	for _, it := range items {
		raised, err := s.broker.Publish(r.Context(), it.Topic, it.V, it.TS)
		if err != nil {
			s.log.Warn("publish failed", "topic", it.Topic, "err", err)
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("broker unavailable after %d of %d items", accepted, len(items)))
			return
		}
		if raised {
			accepted++
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"received": len(items), "raised": accepted})
}

func parsePublishBody(body []byte) ([]Bump, error) {
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body; want {\"topic\":\"…\",\"v\":N} or an array of them", ErrBadJSON)
	}
	var raw []publishItem
	if body[0] == '[' {
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
		if len(raw) == 0 || len(raw) > maxPublishItems {
			return nil, fmt.Errorf("%w: an array needs 1 to %d items", ErrBadJSON, maxPublishItems)
		}
	} else {
		var one publishItem
		if err := json.Unmarshal(body, &one); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
		raw = []publishItem{one}
	}
	out := make([]Bump, len(raw))
	now := time.Now().UnixMilli()
	for i, it := range raw {
		switch err := CheckTopic(it.Topic); {
		case errors.Is(err, ErrReservedTopic):
			return nil, fmt.Errorf("%w: item %d: %q cannot be published", err, i, ReservedTopic)
		case err != nil:
			return nil, fmt.Errorf("%w: item %d: topic must be 1-200 of A-Z a-z 0-9 _ . : / @ -", err, i)
		}
		if len(it.V) == 0 || string(it.V) == "null" {
			return nil, fmt.Errorf("%w: item %d: \"v\" is required", ErrMissingVersion, i)
		}
		v, err := parseVersion(string(it.V))
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		ts := it.TS
		if ts <= 0 {
			ts = now
		}
		out[i] = Bump{Topic: it.Topic, V: v, TS: ts}
	}
	return out, nil
}

// bearerOK compares the bearer secret in constant time.
func bearerOK(r *http.Request, secret string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
