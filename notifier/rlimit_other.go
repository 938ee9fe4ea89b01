//go:build !unix

package notifier

func openFileLimit() int { return 0 }
