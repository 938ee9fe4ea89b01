package notifier

// pendingHints is a socket's stale hints still to send, at most one per
// topic: a burst raises a pending hint's version instead of queueing
// another (DESIGN §4).
//
// A fan-out puts one hint into each of thousands of mailboxes that held
// nothing, and a writer drains each soon after. A short list does both
// without hashing the topic or reaching into a map's header and groups,
// which the fan-out profile showed as cache misses per recipient (a map per
// socket was ~10 % of a fan-out's CPU, put and drain together). Only a
// socket that holds many topics and has not been drained (a client that is
// not reading) gets an index by topic, so that a hint costs the same
// however many are pending.
type pendingHints struct {
	list []hint
	// index is each topic's position in list, once list has grown past
	// fewHints; nil until then and again after a drain.
	index map[string]int
}

// fewHints is how many pending hints are found by looking through the
// list: a few string comparisons, most of them failing on the length.
const fewHints = 8

func (p *pendingHints) len() int { return len(p.list) }

// put records a hint for topic at v. It reports false if one at v or newer
// is pending already, or, for v 0 (version unknown), any hint for topic.
func (p *pendingHints) put(topic string, v int64) bool {
	i := p.find(topic)
	if i >= 0 {
		if v == 0 || v <= p.list[i].v {
			return false
		}
		p.list[i].v = v
		return true
	}
	if p.index == nil && len(p.list) == fewHints {
		p.index = make(map[string]int, 2*fewHints)
		for i, h := range p.list {
			p.index[h.topic] = i
		}
	}
	if p.index != nil {
		p.index[topic] = len(p.list)
	}
	p.list = append(p.list, hint{topic, v})
	return true
}

// find returns topic's position in list, or -1.
func (p *pendingHints) find(topic string) int {
	if p.index != nil {
		if i, ok := p.index[topic]; ok {
			return i
		}
		return -1
	}
	for i := range p.list {
		if p.list[i].topic == topic {
			return i
		}
	}
	return -1
}

// only reports whether the one pending hint is topic at v.
func (p *pendingHints) only(topic string, v int64) bool {
	return len(p.list) == 1 && p.list[0].v == v && p.list[0].topic == topic
}

// remove forgets topic's pending hint, if any.
func (p *pendingHints) remove(topic string) {
	i := p.find(topic)
	if i < 0 {
		return
	}
	last := len(p.list) - 1
	p.list[i] = p.list[last]
	p.list[last] = hint{}
	p.list = p.list[:last]
	if p.index != nil {
		delete(p.index, topic)
		if i < last {
			p.index[p.list[i].topic] = i
		}
	}
}

// drain appends every pending hint to out, in no particular order, and
// empties p. A short list keeps its array for the next fan-out; a burst's
// array and index go.
func (p *pendingHints) drain(out []hint) []hint {
	out = append(out, p.list...)
	if cap(p.list) > fewHints {
		p.list, p.index = nil, nil
		return out
	}
	clear(p.list)
	p.list = p.list[:0]
	return out
}
