// Package version says which build is running. It is the one source of the
// version string: the notifier's --version, its logs and metrics, and the
// release archives all read it from here.
//
// A plain `go build` reports Default. A release build (scripts/release, the
// Dockerfile) sets the version, and the commit when Go cannot record it
// (-buildvcs=false, a source tarball), with -ldflags:
//
//	go build -ldflags "-X github.com/pushpoll/pushpoll/internal/version.version=0.3.0 \
//	    -X github.com/pushpoll/pushpoll/internal/version.commit=$(git rev-parse HEAD)" ./cmd/notifier
package version

import (
	"runtime"
	"runtime/debug"
)

// Default is the version of this source tree, a semantic version without a
// leading v. It moves with CHANGELOG.md: a release raises both together.
const Default = "0.3.0"

// Set at build time with -ldflags -X; empty otherwise.
var version, commit string

// Info is what a build knows about itself.
type Info struct {
	Version string // semantic version: what -ldflags set, else Default
	Commit  string // VCS revision, "+dirty" when built from a modified tree; "unknown" when not recorded
	Go      string // the Go release that built it
}

// Get reads the build's information: what -ldflags set, else Default and
// the commit Go recorded in the binary.
func Get() Info {
	return get(version, commit, debug.ReadBuildInfo)
}

// get ignores the module version Go records: in a checkout it is "(devel)"
// or a pseudo-version made up from the commit date, neither of which says
// which release the code is.
func get(version, commit string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: version, Commit: commit, Go: runtime.Version()}
	if info.Version == "" {
		info.Version = Default
	}
	if bi, ok := read(); ok && info.Commit == "" {
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
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is the one line --version prints.
func (i Info) String() string {
	return "pushpoll notifier " + i.Version + " (commit " + i.Commit + ", " + i.Go + ")"
}
