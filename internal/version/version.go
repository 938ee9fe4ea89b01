// Package version says which build is running. Go records the module
// version and the VCS commit in every binary built from a checkout; a
// release build may set both instead, for builds where that record is
// missing (a source tarball, -buildvcs=false):
//
//	go build -ldflags "-X github.com/pushpoll/pushpoll/internal/version.version=v1.4.0 \
//	    -X github.com/pushpoll/pushpoll/internal/version.commit=$(git rev-parse HEAD)" ./cmd/notifier
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at build time with -ldflags -X; empty otherwise.
var version, commit string

// Info is what a build knows about itself.
type Info struct {
	Version string // module version, or "(devel)"
	Commit  string // VCS revision, "+dirty" when built from a modified tree; "unknown" when not recorded
	Go      string // the Go release that built it
}

// Get reads the build's information: what -ldflags set, else what Go
// recorded in the binary.
func Get() Info {
	return get(version, commit, debug.ReadBuildInfo)
}

func get(version, commit string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: version, Commit: commit, Go: runtime.Version()}
	if bi, ok := read(); ok {
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if rev != "" && modified == "true" {
				rev += "+dirty"
			}
			info.Commit = rev
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is the one line --version prints.
func (i Info) String() string {
	return "pushpoll notifier " + i.Version + " (commit " + i.Commit + ", " + i.Go + ")"
}
