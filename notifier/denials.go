package notifier

// denials are the reasons one subscribe was refused, whole or for some of
// its topics. They are counted once per subscribe and reason: a subscribe
// of 1000 topics the token does not cover is one refusal, not 1000, so the
// counter says how many subscribes fail and why, and no client can inflate
// it by naming more topics.
type denials map[string]struct{}

func (d denials) add(reason string) { d[reason] = struct{}{} }

func (s *socketEvents) countDenials(d denials) {
	for reason := range d {
		s.m.authDenied.WithLabelValues(reason).Inc()
	}
}
