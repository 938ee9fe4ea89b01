package version

import (
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	recorded := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main: debug.Module{Version: "v1.2.3"},
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
		{"recorded by go build", "", "", recorded, Info{Version: "v1.2.3", Commit: "abc123+dirty"}},
		{"set by -ldflags", "v2.0.0", "def456", recorded, Info{Version: "v2.0.0", Commit: "def456"}},
		{"nothing known", "", "", none, Info{Version: "(devel)", Commit: "unknown"}},
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
