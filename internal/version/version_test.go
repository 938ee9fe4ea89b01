package version

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	recorded := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main: debug.Module{Version: "v0.0.0-20261207100000-abc123abc123+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc123"},
				{Key: "vcs.modified", Value: "true"},
			},
		}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	cases := []struct {
		name            string
		version, commit string
		read            func() (*debug.BuildInfo, bool)
		want            Info
	}{
		// Go's pseudo-version is not the release; Default is.
		{"plain go build in a checkout", "", "", recorded, Info{Version: Default, Commit: "abc123+dirty"}},
		{"set by -ldflags", "2.0.0", "def456", recorded, Info{Version: "2.0.0", Commit: "def456"}},
		{"version by -ldflags, commit by go", "2.0.0", "", recorded, Info{Version: "2.0.0", Commit: "abc123+dirty"}},
		{"nothing known", "", "", none, Info{Version: Default, Commit: "unknown"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := get(c.version, c.commit, c.read)
			if got.Version != c.want.Version || got.Commit != c.want.Commit || got.Go == "" {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// Default is what CHANGELOG.md and the packages name; it must stay a plain
// semantic version (no leading v, no build metadata) for them to agree.
func TestDefaultIsSemver(t *testing.T) {
	semver := regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
	if !semver.MatchString(Default) {
		t.Fatalf("Default = %q is not a semantic version", Default)
	}
}
