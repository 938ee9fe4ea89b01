package notifier

import "time"

// unknownPoll tells sk to poll for each of topics whose version is not
// known (absent or 0 in versions), when keys expire (--version-ttl): a
// missing key may be an expired one, whose bump the client missed while it
// had no socket. Without a TTL a missing key means never bumped, and the
// client's version stands.
func unknownPoll(ttl time.Duration, sk *socket, topics []string, versions map[string]int64) {
	if ttl <= 0 {
		return
	}
	for _, t := range topics {
		if versions[t] == 0 {
			sk.hint(t, 0) // v 0: "poll to be sure" (DESIGN §2)
		}
	}
}

// ttlArgs are publish.lua's ARGV[3] and ARGV[4]: how to announce, and the
// key's lifetime in seconds when ttl is set.
func ttlArgs(announce string, ttl time.Duration) []any {
	if ttl <= 0 {
		if announce == "PUBLISH" {
			return nil
		}
		return []any{announce}
	}
	return []any{announce, int64(ttl / time.Second)}
}
