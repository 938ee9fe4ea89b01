// Package asset serves files held in memory with a strong ETag, so a
// browser that has one revalidates it for a 304 instead of fetching it again,
// and gzip-compressed, once at start, to clients that accept it.
package asset

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// File is one in-memory file, with its gzip form when that is smaller.
type File struct {
	body        []byte
	etag        string
	gz          []byte // nil when compressing does not pay
	gzETag      string
	contentType string
}

// New names body by a hash of its bytes, so the ETag changes exactly when
// the file does, and compresses it once here rather than on every request.
func New(body []byte, contentType string) File {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:8])
	f := File{body: body, etag: `"` + tag + `"`, contentType: contentType}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level cannot fail
	_, _ = zw.Write(body)                                    // writes to memory cannot fail
	_ = zw.Close()
	if buf.Len() < len(body) {
		f.gz = buf.Bytes()
		// Each encoding is its own representation with its own validator
		// (RFC 9110 §8.8.3), so a cache never answers a 304 for the wrong one.
		f.gzETag = `"` + tag + `-gz"`
	}
	return f
}

// Serve answers GET and HEAD, including If-None-Match and ranges, with the
// given Cache-Control. Callers add their own headers (CORS, CSP) first.
func (f File) Serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	body, etag := f.body, f.etag
	if f.gz != nil {
		// The answer depends on Accept-Encoding, whichever one it is.
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, etag = f.gz, f.gzETag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip (or *)
// with a weight above zero.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "*" {
				continue
			}
			ok := weight(params) > 0
			if name == "gzip" {
				return ok
			}
			star = ok
		}
	}
	return star
}

// weight reads q from a coding's parameters; 1 when absent or unreadable.
func weight(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return q
			}
		}
	}
	return 1
}
