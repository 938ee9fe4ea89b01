package notifier

// pendingHints is a socket's stale hints still to send, at most one per
// topic: a burst raises a pending hint's version instead of queueing
// another (DESIGN §4). A fan-out puts one hint into each of thousands of
// mailboxes that held nothing, and a writer drains each soon after: a
// topicList does both cheaply.
type pendingHints struct {
	topicList[int64]
}

// hint is one pending stale hint: topic at version v.
type hint = keyed[int64]

// put records a hint for topic at v. It reports false if one at v or newer
// is pending already, or, for v 0 (version unknown), any hint for topic.
func (p *pendingHints) put(topic string, v int64) bool {
	if old := p.get(topic); old != nil {
		if v == 0 || v <= *old {
			return false
		}
		*old = v
		return true
	}
	p.add(topic, v)
	return true
}

// only reports whether the one pending hint is topic at v.
func (p *pendingHints) only(topic string, v int64) bool {
	return len(p.list) == 1 && p.list[0].v == v && p.list[0].topic == topic
}

// drain appends every pending hint to out, in no particular order, and
// empties p.
func (p *pendingHints) drain(out []hint) []hint {
	out = append(out, p.list...)
	p.reset()
	return out
}
