package asset

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestServeRevalidates(t *testing.T) {
	f := New([]byte("console.log(1)"), "text/javascript")
	get := func(header http.Header) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/x.js", nil)
		for k, v := range header {
			r.Header[k] = v
		}
		f.Serve(w, r, "no-cache")
		return w
	}
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
