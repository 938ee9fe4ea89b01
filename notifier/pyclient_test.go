package notifier_test

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPythonSocketIOClient runs a client no one here wrote, Debian's
// python-socketio 5 (Engine.IO 4), on both transports: it connects with
// its token in the CONNECT auth payload, subscribes, and receives a
// publish; a token for other topics gets connect_error with the reason.
func TestPythonSocketIOClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3 (-short)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import socketio, requests, websocket").Run(); err != nil {
		t.Skip("needs python3-socketio, python3-requests and python3-websocket (scripts/test installs them)")
	}
	n := startNode(t, testConfig())
	for _, tr := range []string{"polling", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			topic := "py:" + tr
			py := startPython(t, n.url, tr, token(t, topic), topic)
			py.expect(t, "ACK", `{"denied": {}, "granted": ["`+topic+`"]}`)
			py.expect(t, "TRANSPORT", tr)
			py.expect(t, "READY", "")
			if code, body := publishHTTP(t, n, publishSecret, `{"topic":"`+topic+`","v":2}`); code != 202 {
				t.Fatalf("publish: %d %s", code, body)
			}
			py.expect(t, "STALE", `{"`+topic+`": 2}`)

			refused := startPython(t, n.url, tr, token(t, "py:other"), topic)
			refused.expect(t, "CONNECT_ERROR", "not in token")
			// python-socketio waits out its connect timeout before it
			// gives up; the answer is in.
			_ = refused.cmd.Process.Kill()
		})
	}
}

type python struct {
	cmd   *exec.Cmd
	lines chan string
	stdin io.WriteCloser
}

func startPython(t *testing.T, url, transport, tok, topic string) *python {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "testdata/pysocketio.py", url, transport, tok, topic)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &python{cmd: cmd, lines: make(chan string, 64), stdin: stdin}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("python stderr:\n%s", stderr.String())
		}
	})
	return p
}

// expect waits for the next line with the given verb (skipping MODE lines)
// and checks the rest of it.
func (p *python) expect(t *testing.T, verb, want string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("python exited before %s", verb)
			}
			got, rest, _ := strings.Cut(line, " ")
			if got == "MODE" {
				continue
			}
			if got != verb || (want != "" && !strings.Contains(rest, want)) {
				t.Fatalf("python said %q, want %s %s", line, verb, want)
			}
			return
		case <-timeout:
			t.Fatalf("no %s from python within 15s", verb)
		}
	}
}
