package notifier

import (
	"fmt"
	"sync/atomic"
)

// Mode is what clients are told to do (DESIGN §5): trust push and poll
// slowly, poll as usual and report what push would have done, or poll as
// usual. Its text is the wire's and the flag's.
type Mode string

const (
	ModePush   Mode = "push"
	ModeShadow Mode = "shadow"
	ModePoll   Mode = "poll"
)

// Modes lists every mode, in the order metrics show them.
var Modes = []Mode{ModePush, ModeShadow, ModePoll}

// ParseMode reads a mode from a flag, a request or the bus, where anyone
// with Redis access can write megabytes: only a bounded prefix of a bad
// one reaches the error.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModePush, ModeShadow, ModePoll:
		return m, nil
	}
	return "", fmt.Errorf("mode must be push, shadow or poll, not %q (%d bytes)", truncate(s, 32), len(s))
}

// modeFlag is the node's feature flag, read on every connect and swapped
// by the admin API or the bus.
type modeFlag struct{ p atomic.Pointer[Mode] }

func (f *modeFlag) Load() Mode {
	if m := f.p.Load(); m != nil {
		return *m
	}
	return ModePush
}

// Swap sets the flag and returns the one it replaced.
func (f *modeFlag) Swap(m Mode) Mode {
	if old := f.p.Swap(&m); old != nil {
		return *old
	}
	return ModePush
}
