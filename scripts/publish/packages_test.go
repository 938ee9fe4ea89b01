package publish_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pushpoll/pushpoll/internal/redistest"
)

var railsCheck = sync.OnceValue(func() error {
	if err := rubyCheck(); err != nil {
		return err
	}
	const load = `require "rails"; require "active_record/railtie"; require "action_controller/railtie"; require "sqlite3"; require "zeitwerk"`
	if out, err := exec.Command("ruby", "-e", load).CombinedOutput(); err != nil {
		return &missingError{"ruby cannot load Rails: apt-get install ruby-railties ruby-activerecord ruby-sqlite3 (scripts/test installs them)", err, out}
	}
	return nil
})

type missingError struct {
	what string
	err  error
	out  []byte
}

func (e *missingError) Error() string { return e.what + ": " + e.err.Error() + "\n" + string(e.out) }

// TestRubyGem runs the gem's own tests (a Rails 6.1 app with ActiveRecord on
// SQLite, each file in a process of its own and against its own real
// redis-server), then builds the gem and installs it offline as a user
// would, and runs its command.
func TestRubyGem(t *testing.T) {
	crossLanguage(t)
	t.Parallel()
	must(t, railsCheck())
	files, err := filepath.Glob("ruby/test/*_test.rb")
	must(t, err)
	if len(files) == 0 {
		t.Fatal("no tests under ruby/test")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := run(t, nil, "ruby", "-Iruby/lib", "-Iruby/test", f)
			if res.code != 0 || !strings.Contains(res.stdout, " 0 failures, 0 errors") {
				t.Fatalf("exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
			}
		})
	}
	t.Run("gem build and install", func(t *testing.T) {
		dir := t.TempDir()
		gem := filepath.Join(dir, "pushpoll.gem")
		build := exec.Command("gem", "build", "pushpoll.gemspec", "-o", gem)
		build.Dir = "ruby"
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("gem build: %v\n%s", err, out)
		}
		home := filepath.Join(dir, "home")
		env := []string{"GEM_HOME=" + home}
		step(t, env, "gem", "install", "--local", "--no-document", gem)
		// The installed executable, loading the installed library: the
		// redis and jwt it needs come from the system's gems.
		checkInstalled(t, env, filepath.Join(home, "bin", "pushpoll"))
		installedLicense(t, filepath.Join(home, "gems", "pushpoll-"+gemVersion(t), "LICENSE"))
	})
}

// TestPythonPackage runs the package's tests (the library against its own
// real redis-server, and the README's Django example under Django), then
// builds the sdist and wheel offline with Debian's python3-build and installs
// the wheel into a virtualenv as a user would, and runs its command.
func TestPythonPackage(t *testing.T) {
	crossLanguage(t)
	t.Parallel()
	must(t, pythonCheck())
	py := python()
	if out, err := exec.Command(py, "-c", "import django, build, setuptools, wheel").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import django and the build tools: apt-get install python3-django python3-build python3-setuptools python3-wheel (scripts/test installs them): %v\n%s", py, err, out)
	}
	t.Run("unittest", func(t *testing.T) {
		res := run(t, []string{"PYTHONPATH=python/src"}, py, "-W", "ignore::DeprecationWarning", "-m", "unittest", "discover", "-s", "python/tests")
		if res.code != 0 || strings.Contains(res.stderr, "skipped") {
			t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("build and install", func(t *testing.T) {
		dir := t.TempDir()
		// A copy: the build writes build/ and *.egg-info next to the sources.
		src := filepath.Join(dir, "src")
		if out, err := exec.Command("cp", "-r", "python", src).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
		// Only the sources: a build/ left by an earlier in-tree build would
		// put stale modules into the wheel.
		stale, err := filepath.Glob(filepath.Join(src, "src", "*.egg-info"))
		must(t, err)
		for _, p := range append(stale, filepath.Join(src, "build"), filepath.Join(src, "dist")) {
			must(t, os.RemoveAll(p))
		}
		dist := filepath.Join(dir, "dist")
		step(t, nil, py, "-m", "build", "--no-isolation", "--outdir", dist, src)
		wheels, err := filepath.Glob(filepath.Join(dist, "pushpoll-*-py3-none-any.whl"))
		must(t, err)
		sdists, err := filepath.Glob(filepath.Join(dist, "pushpoll-*.tar.gz"))
		must(t, err)
		if len(wheels) != 1 || len(sdists) != 1 {
			t.Fatalf("dist holds wheels %q and sdists %q, want one of each", wheels, sdists)
		}
		// No pip inside the venv (bootstrapping it is slow); the system's
		// pip installs into it, and --no-index keeps it offline: redis and
		// jwt come from the system's site-packages.
		venv := filepath.Join(dir, "venv")
		step(t, nil, py, "-m", "venv", "--without-pip", "--system-site-packages", venv)
		step(t, nil, py, "-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "install", "--no-index", "--quiet", wheels[0])
		checkInstalled(t, nil, filepath.Join(venv, "bin", "pushpoll"))
		licenses, err := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages", "pushpoll-*.dist-info", "LICENSE"))
		must(t, err)
		if len(licenses) != 1 {
			t.Fatalf("the installed wheel holds %d LICENSE files, want 1", len(licenses))
		}
		installedLicense(t, licenses[0])
	})
}

// step runs one command of a build or an install and stops the test if it fails.
func step(t *testing.T, env []string, argv ...string) {
	t.Helper()
	if res := run(t, env, argv...); res.code != 0 {
		t.Fatalf("%q: exit %d\n%s%s", argv, res.code, res.stdout, res.stderr)
	}
}

// checkInstalled runs an installed package's command: it must carry the
// notifier's script and bump through a real redis-server.
func checkInstalled(t *testing.T, env []string, bin string) {
	t.Helper()
	want, err := os.ReadFile(luaPath)
	must(t, err)
	if res := run(t, env, bin, "lua"); res.code != 0 || res.stdout != string(want) {
		t.Fatalf("installed %s lua: exit %d, stderr %s; output equals publish.lua: %v", bin, res.code, res.stderr, res.stdout == string(want))
	}
	srv := redistest.Start(t)
	if res := run(t, env, bin, "bump", srv.URL, "project:1", "3"); res.code != 0 || strings.TrimSpace(res.stdout) != "true" {
		t.Fatalf("installed %s bump: exit %d, stdout %q, stderr %s", bin, res.code, res.stdout, res.stderr)
	}
	if got := get(t, srv, "pushpoll:project:1"); got != "3" {
		t.Fatalf("after the installed %s bumped, pushpoll:project:1 = %q, want 3", bin, got)
	}
}

// installedLicense checks that an installed package carries the repository's
// LICENSE, whose copies in ruby/ and python/ are what gets packed.
func installedLicense(t *testing.T, path string) {
	t.Helper()
	want, err := os.ReadFile("../../LICENSE")
	must(t, err)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is not the repository's LICENSE (copy it into ruby/ and python/): %v", path, err)
	}
}

// TestPackageVersions checks that the gem and the Python package carry one
// version, the notifier's: internal/version is the only source of the
// version string, and each package writes it once.
func TestPackageVersions(t *testing.T) {
	t.Parallel()
	gem := gemVersion(t)
	py := versionIn(t, "python/src/pushpoll/__init__.py", `(?m)^__version__ = "([^"]+)"`)
	if gem != py {
		t.Errorf("the gem is %s, the Python package %s", gem, py)
	}
	if want := versionIn(t, "../../internal/version/version.go", `(?m)^const Default = "([^"]+)"`); gem != want {
		t.Errorf("the packages are %s, internal/version's Default is %s", gem, want)
	}
}

func gemVersion(t *testing.T) string {
	t.Helper()
	return versionIn(t, "ruby/lib/pushpoll/version.rb", `VERSION = "([^"]+)"`)
}

// versionIn is what the first group of pattern matches in the file at path.
func versionIn(t *testing.T, path, pattern string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	m := regexp.MustCompile(pattern).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no version matching %s", path, pattern)
	}
	return string(m[1])
}
