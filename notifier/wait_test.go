package notifier

import (
	"testing"
	"time"
)

// CheckFor is the notifier tests' one wait, for the in-package tests and
// (exported from this test file) the notifier_test ones: it polls cond
// until it returns nil, and fails the test with cond's last error, which
// says what is still wrong, if that takes longer than d. Budgets are
// generous because the suites share two cores with other work; a passing
// wait returns at once anyway. (Model: nats-server's checkFor.)
func CheckFor(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
