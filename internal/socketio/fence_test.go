package socketio

import (
	"os/exec"
	"strings"
	"testing"
)

// library is the import path prefix of go-socket.io and its subpackages.
const library = "github.com/googollee/go-socket.io"

// fenced are the only packages besides this one whose code may import
// go-socket.io, and which of their files may. The peers are the library on
// purpose: a benchmark peer and test servers that check our clients against
// the library used the ordinary way.
var fenced = map[string]string{
	"github.com/pushpoll/pushpoll/scripts/bench/naive": "all",   // the naive go-socket.io peer
	"github.com/pushpoll/pushpoll/cmd/loadgen":         "tests", // a rooms server, to measure the load generator
	"github.com/pushpoll/pushpoll/internal/sioclient":  "tests", // the client against the unmodified library
}

// TestGoSocketIOIsFenced: no package but this one imports go-socket.io, so
// replacing or patching around the library stays a change to this package.
func TestGoSocketIOIsFenced(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`,
		"github.com/pushpoll/pushpoll/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	self := "github.com/pushpoll/pushpoll/internal/socketio"
	seen := 0
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		pkg, rest, _ := strings.Cut(strings.TrimSpace(line), "|")
		code, tests, _ := strings.Cut(rest, "|")
		seen++
		if pkg == self || fenced[pkg] == "all" {
			continue
		}
		check := func(imports, what string) {
			for _, imp := range strings.Fields(imports) {
				if imp == library || strings.HasPrefix(imp, library+"/") {
					t.Errorf("%s: %s import %s; only internal/socketio may", pkg, what, imp)
				}
			}
		}
		check(code, "code")
		if fenced[pkg] != "tests" {
			check(tests, "tests")
		}
	}
	if seen < 10 {
		t.Fatalf("go list found %d packages; is the module pattern right?", seen)
	}
}
