package notifier

import "fmt"

// The Redis names a node uses are of three kinds, kept apart by '#':
//   - topics' version keys and channels: <prefix><topic>, with no '#' in
//     either part (the topic alphabet has none, ValidPrefix allows none);
//   - the feature flag: <prefix>#mode (FlagKey);
//   - the node's own: pushpoll#node:<id> (peers) and pushpoll#canary:...
//     (the link canaries), under nodeKeyPrefix.
//
// So whoever may publish (the publish secret, the app's script) can raise
// versions under any prefix, but never overwrite the node registry, fake a
// canary or set the flag.
const nodeKeyPrefix = "pushpoll#"

// maxPrefixLen bounds --channel-prefix: it is part of every key and
// channel name, and a namespace needs a few characters.
const maxPrefixLen = 64

// ValidPrefix checks a --channel-prefix: 1 to 64 characters of the topic
// alphabet, or '{' and '}' for a Redis Cluster hash tag. No '#': that keeps
// the flag and the node's own keys out of the topic space. Not empty: topic
// keys would then be bare topic names among the app's own keys, which
// whoever may publish could overwrite.
func ValidPrefix(p string) error {
	if p == "" || len(p) > maxPrefixLen {
		return fmt.Errorf("--channel-prefix must be 1 to %d characters, not %d", maxPrefixLen, len(p))
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !topicByte[c] && c != '{' && c != '}' {
			return fmt.Errorf("--channel-prefix %q: %q is not allowed; use A-Z a-z 0-9 _ . : / @ - { }", truncate(p, maxPrefixLen), c)
		}
	}
	return nil
}
