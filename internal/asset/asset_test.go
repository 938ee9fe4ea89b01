package asset

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServeRevalidates(t *testing.T) {
	f := New([]byte("console.log(1)"), "text/javascript")
	get := func(header http.Header) *httptest.ResponseRecorder { return serve(f, header) }
	first := get(nil)
	if first.Code != http.StatusOK || first.Body.String() != "console.log(1)" || first.Header().Get("Content-Type") != "text/javascript" {
		t.Fatalf("first GET: %d %q %v", first.Code, first.Body, first.Header())
	}
	etag := first.Header().Get("ETag")
	if again := get(http.Header{"If-None-Match": {etag}}); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Fatalf("GET with the ETag: %d, %d bytes; want 304 and no body", again.Code, again.Body.Len())
	}
	if other := get(http.Header{"If-None-Match": {`"stale"`}}); other.Code != http.StatusOK {
		t.Fatalf("GET with another ETag: %d, want 200", other.Code)
	}
	if New([]byte("console.log(2)"), "text/javascript").etag == etag {
		t.Fatal("different bytes, same ETag")
	}
}

func TestServeGzip(t *testing.T) {
	body := []byte(strings.Repeat("console.log('pushpoll');\n", 200))
	f := New(body, "text/javascript")
	get := func(header http.Header) *httptest.ResponseRecorder { return serve(f, header) }
	cases := []struct {
		name           string
		acceptEncoding []string
		gzip           bool
	}{
		{"no header", nil, false},
		{"gzip", []string{"gzip, deflate, br"}, true},
		{"gzip with a weight", []string{"br;q=1.0, GZIP;q=0.5"}, true},
		{"gzip refused", []string{"gzip;q=0, identity"}, false},
		{"any coding", []string{"*"}, true},
		{"any but gzip", []string{"*, gzip;q=0"}, false},
		{"identity only", []string{"identity"}, false},
		{"second header line", []string{"br", "gzip"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := get(http.Header{"Accept-Encoding": c.acceptEncoding})
			if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") {
				t.Fatalf("%d, Vary %q; want 200 varying on Accept-Encoding", w.Code, w.Header().Get("Vary"))
			}
			got := w.Body.Bytes()
			if c.gzip {
				if w.Header().Get("Content-Encoding") != "gzip" || len(got) >= len(body)/4 {
					t.Fatalf("Content-Encoding %q, %d bytes of %d; want gzip", w.Header().Get("Content-Encoding"), len(got), len(body))
				}
				zr, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			} else if w.Header().Get("Content-Encoding") != "" {
				t.Fatalf("Content-Encoding %q for a client that did not accept it", w.Header().Get("Content-Encoding"))
			}
			if !bytes.Equal(got, body) {
				t.Fatal("the body does not decode to the file")
			}
		})
	}
	plain, zipped := get(nil).Header().Get("ETag"), get(http.Header{"Accept-Encoding": {"gzip"}}).Header().Get("ETag")
	if plain == zipped {
		t.Fatalf("both encodings have ETag %s", plain)
	}
	if w := get(http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {zipped}}); w.Code != http.StatusNotModified {
		t.Fatalf("revalidating the gzip form: %d, want 304", w.Code)
	}
	if w := get(http.Header{"If-None-Match": {zipped}}); w.Code != http.StatusOK {
		t.Fatalf("the gzip form's ETag revalidated the identity form: %d", w.Code)
	}
	// A file that does not shrink is served as it is, without Vary.
	tiny := New([]byte("x"), "text/plain")
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	tiny.Serve(w, r, "no-cache")
	if w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "" || w.Body.String() != "x" {
		t.Fatalf("tiny file: %v %q", w.Header(), w.Body)
	}
}

// serve answers a GET of f carrying header.
func serve(f File, header http.Header) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/x.js", nil)
	for k, v := range header {
		r.Header[k] = v
	}
	f.Serve(w, r, "no-cache")
	return w
}
