// Package scripts_test runs scripts/release as a maintainer cutting a release would.
package scripts_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pushpoll/pushpoll/internal/version"
)

// release runs scripts/release into a fresh folder and returns it with the script's output.
func release(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	args := []string{"--out", dir}
	if os.Getenv("RELEASE_ALL") == "" {
		args = append(args, "--platforms", runtime.GOOS+"/"+runtime.GOARCH)
	}
	cmd := exec.Command("./release", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, out)
	}
	return dir, string(out)
}

// TestReleaseIsReproducible builds the release twice and wants the same bytes, then checks
// what a user downloads: the archives' contents, the checksums and the binary's version.
func TestReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the notifier and the packages twice (RELEASE_ALL=1: for all four platforms)")
	}
	first, log := release(t)
	second, _ := release(t)

	names := files(t, first)
	if got := files(t, second); !slices.Equal(names, got) {
		t.Fatalf("the runs made different files: %v and %v", names, got)
	}
	for _, name := range names {
		a, b := read(t, filepath.Join(first, name)), read(t, filepath.Join(second, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs (%d and %d bytes)", name, len(a), len(b))
		}
	}

	v := version.Default
	want := []string{"SHA256SUMS", "pushpoll-client-" + v + ".tgz", "pushpoll-publisher-" + v + ".tgz"}
	platforms := []string{runtime.GOOS + "-" + runtime.GOARCH}
	if os.Getenv("RELEASE_ALL") != "" {
		platforms = []string{"darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64"}
	}
	for _, p := range platforms {
		want = append(want, "pushpoll-"+v+"-"+p+".tar.gz")
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("no %s in %v", w, names)
		}
	}
	// The Ruby and Python packages come from another line of work; without their folders
	// the script must say it skipped them, not fail or stay silent.
	for _, pkg := range []struct{ dir, skip, suffix string }{
		{"publish/ruby", "skipping the gem", ".gem"},
		{"publish/python", "skipping the Python packages", ".whl"},
	} {
		_, err := os.Stat(pkg.dir)
		built := slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, pkg.suffix) })
		switch {
		case err == nil && !built:
			t.Errorf("%s exists but no %s was built", pkg.dir, pkg.suffix)
		case err != nil && !strings.Contains(log, pkg.skip):
			t.Errorf("%s is absent and the script did not say %q:\n%s", pkg.dir, pkg.skip, log)
		}
	}

	checkSums(t, first, names)
	for _, name := range names {
		// The binary archives, pushpoll-<v>-<os>-<arch>.tar.gz; the Python
		// sdist, pushpoll-<v>.tar.gz, has its own layout.
		if strings.HasPrefix(name, "pushpoll-"+v+"-") && strings.HasSuffix(name, ".tar.gz") {
			checkArchive(t, filepath.Join(first, name), strings.TrimSuffix(name, ".tar.gz"))
		}
	}

	// The binary for this machine says which release it is, with the commit it came from.
	host := "pushpoll-" + v + "-" + runtime.GOOS + "-" + runtime.GOARCH
	if !slices.Contains(names, host+".tar.gz") {
		return
	}
	bin := filepath.Join(t.TempDir(), "notifier")
	if err := os.WriteFile(bin, member(t, filepath.Join(first, host+".tar.gz"), host+"/notifier"), 0o755); err != nil {
		t.Fatal(err)
	}
	notices := string(member(t, filepath.Join(first, host+".tar.gz"), host+"/THIRD_PARTY_NOTICES"))
	for _, mod := range []string{"Go go1", "github.com/googollee/go-socket.io@", "github.com/gomodule/redigo@", "github.com/golang-jwt/jwt/v5@"} {
		if !strings.Contains(notices, "== "+mod) {
			t.Errorf("THIRD_PARTY_NOTICES has no section for %s", mod)
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	head, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	if want := "pushpoll notifier " + v + " (commit " + strings.TrimSpace(string(head)); !strings.HasPrefix(string(out), want) {
		t.Errorf("--version printed %q, want it to start with %q", out, want)
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSums: SHA256SUMS lists every other file once, with its digest, in sha256sum's format.
func checkSums(t *testing.T, dir string, names []string) {
	t.Helper()
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(read(t, filepath.Join(dir, "SHA256SUMS")))), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		listed[name] = sum
	}
	for _, name := range names {
		if name == "SHA256SUMS" {
			continue
		}
		digest := sha256.Sum256(read(t, filepath.Join(dir, name)))
		if got := listed[name]; got != hex.EncodeToString(digest[:]) {
			t.Errorf("SHA256SUMS has %q for %s, want %x", got, name, digest)
		}
		delete(listed, name)
	}
	if len(listed) > 0 {
		t.Errorf("SHA256SUMS lists files that are not there: %v", listed)
	}
}

// checkArchive: one folder named like the archive, holding the binary, LICENSE, README,
// CHANGELOG and the notices of what the binary includes, owned by root, with one mtime.
func checkArchive(t *testing.T, path, folder string) {
	t.Helper()
	var got []string
	var mtime int64
	walk(t, path, func(h *tar.Header, _ io.Reader) {
		got = append(got, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" && h.Uname != "root" {
			t.Errorf("%s: %s owned by %d/%d %s", path, h.Name, h.Uid, h.Gid, h.Uname)
		}
		if mtime == 0 {
			mtime = h.ModTime.Unix()
		} else if h.ModTime.Unix() != mtime {
			t.Errorf("%s: %s has mtime %v, others %d", path, h.Name, h.ModTime, mtime)
		}
	})
	want := []string{folder + "/", folder + "/CHANGELOG.md", folder + "/LICENSE", folder + "/README.md", folder + "/THIRD_PARTY_NOTICES", folder + "/notifier"}
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", path, got, want)
	}
}

func member(t *testing.T, path, name string) []byte {
	t.Helper()
	var body []byte
	walk(t, path, func(h *tar.Header, r io.Reader) {
		if h.Name == name {
			body, _ = io.ReadAll(r)
		}
	})
	if body == nil {
		t.Fatalf("no %s in %s", name, path)
	}
	return body
}

func walk(t *testing.T, path string, fn func(*tar.Header, io.Reader)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		fn(h, tr)
	}
}
