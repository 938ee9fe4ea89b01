package publish_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
	if testing.Short() {
		t.Skip("starts ruby, Rails and redis-server")
	}
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
		if res := run(t, env, "gem", "install", "--local", "--no-document", gem); res.code != 0 {
			t.Fatalf("gem install: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		// The installed executable, loading the installed library: the
		// redis and jwt it needs come from the system's gems.
		res := run(t, env, filepath.Join(home, "bin", "pushpoll"), "lua")
		want, err := os.ReadFile(luaPath)
		must(t, err)
		if res.code != 0 || res.stdout != string(want) {
			t.Fatalf("installed pushpoll lua: exit %d, stderr %s; output equals publish.lua: %v", res.code, res.stderr, res.stdout == string(want))
		}
	})
}
