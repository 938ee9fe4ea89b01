package notifier

// workers runs functions on a few long-lived goroutines, so the deep call
// chains of a subscribe (JSON, JWT verification, crypto) grow their stacks
// once, not the stack of whichever goroutine reads a socket's message
// (internal/socketio runs a connection on a goroutine only while it has
// messages, so a stack grown there would be grown again for the next
// socket; the growth was a fifth of the CPU of a reconnect storm). A
// function that finds no idle worker gets a goroutine of its own, so a
// slow auth callback never makes anyone else wait.
type workers struct {
	jobs chan func()
}

func newWorkers(n int) *workers {
	w := &workers{jobs: make(chan func())} // unbuffered: only idle workers take a job
	for range n {
		go w.loop()
	}
	return w
}

func (w *workers) loop() {
	for f := range w.jobs {
		f()
	}
}

// run runs f on an idle worker, or on a new goroutine if none is idle.
func (w *workers) run(f func()) {
	select {
	case w.jobs <- f:
	default:
		go f()
	}
}

// stop ends the workers once they finish their jobs.
func (w *workers) stop() { close(w.jobs) }
