package notifier

// topicList is a small map from topic to T for what one socket keeps per
// topic: its grants and its pending hints. Most sockets hold a topic or two,
// so a short list does the work without hashing the topic or reaching into
// a map's header and group: in a fan-out, those were cache misses for every
// recipient (a map per socket was ~10 % of a fan-out's CPU), and a map's
// first group (~400 bytes) was most of an idle socket's cost. A socket with
// many topics gets an index by topic once the list grows past fewTopics, so
// that a lookup costs the same however many it holds.
type topicList[T any] struct {
	list []keyed[T]
	// index is each topic's position in list, once list has grown past
	// fewTopics; nil until then, and again after a reset.
	index map[string]int
}

// keyed is one topic's value.
type keyed[T any] struct {
	topic string
	v     T
}

// fewTopics is how many entries are found by looking through the list: a
// few string comparisons, most of them failing on the length.
const fewTopics = 8

func (l *topicList[T]) len() int { return len(l.list) }

// get returns topic's value, or nil. The pointer is good until the next add
// or remove.
func (l *topicList[T]) get(topic string) *T {
	if i := l.find(topic); i >= 0 {
		return &l.list[i].v
	}
	return nil
}

// find returns topic's position in list, or -1.
func (l *topicList[T]) find(topic string) int {
	if l.index != nil {
		if i, ok := l.index[topic]; ok {
			return i
		}
		return -1
	}
	for i := range l.list {
		if l.list[i].topic == topic {
			return i
		}
	}
	return -1
}

// add appends topic, which the list must not hold, and returns its value.
func (l *topicList[T]) add(topic string, v T) *T {
	if l.index == nil && len(l.list) == fewTopics {
		l.index = make(map[string]int, 2*fewTopics)
		for i, e := range l.list {
			l.index[e.topic] = i
		}
	}
	if l.index != nil {
		l.index[topic] = len(l.list)
	}
	l.list = append(l.list, keyed[T]{topic, v})
	return &l.list[len(l.list)-1].v
}

// remove forgets topic; false if it was not there.
func (l *topicList[T]) remove(topic string) bool {
	i := l.find(topic)
	if i < 0 {
		return false
	}
	last := len(l.list) - 1
	l.list[i] = l.list[last]
	l.list[last] = keyed[T]{}
	l.list = l.list[:last]
	if l.index != nil {
		delete(l.index, topic)
		if i < last {
			l.index[l.list[i].topic] = i
		}
	}
	return true
}

// reset empties the list. A short one keeps its array for reuse; a long
// one's array and index go.
func (l *topicList[T]) reset() {
	if cap(l.list) > fewTopics {
		l.list, l.index = nil, nil
		return
	}
	clear(l.list)
	l.list = l.list[:0]
}
