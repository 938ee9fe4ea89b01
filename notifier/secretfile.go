package notifier

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Secrets may come from files, which the node reads again while it runs:
// Kubernetes updates a mounted Secret by swapping a symlink, with no signal
// to the process, and a distroless pod has no shell to send one. Polling
// the content, not the mtime, sees every such swap (the symlink's target
// changes, the file's mtime may not) and costs one small read per file per
// poll.

// defaultSecretPoll is how often secret files are read again. The promise
// is "within 10 s"; 2 s leaves room for a slow disk and a loaded node.
const defaultSecretPoll = 2 * time.Second

// secret is a bearer secret that a file may replace at run time.
type secret struct{ v atomic.Pointer[string] }

func (s *secret) get() string {
	if p := s.v.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *secret) set(v string) { s.v.Store(&v) }

// errSecretFile is wrapped by every refusal of a secret file's content.
var errSecretFile = errors.New("bad secret file")

// parseBearer reads a bearer secret file: one line of at least min
// characters, surrounding white space (the newline editors add) ignored.
func parseBearer(b []byte, min int) (string, error) {
	v := strings.TrimSpace(string(b))
	switch {
	case v == "":
		return "", fmt.Errorf("%w: empty", errSecretFile)
	case strings.ContainsAny(v, "\r\n"):
		return "", fmt.Errorf("%w: more than one line", errSecretFile)
	case len(v) < min:
		return "", fmt.Errorf("%w: shorter than %d characters", errSecretFile, min)
	}
	return v, nil
}

// watchedFile is one file the node reads again when its content changes.
type watchedFile struct {
	flag, path string
	// apply checks and takes the new content; on error the value in use
	// stays.
	apply func([]byte) error
	last  []byte // content last applied or refused
	err   string // the last read error, logged once until it changes
}

// watchFile adds a file to the watch list; its content now is what the
// node started with.
func (s *Server) watchFile(flag, path string, now []byte, apply func([]byte) error) {
	s.files = append(s.files, &watchedFile{flag: flag, path: path, apply: apply, last: now})
	for _, result := range []string{"ok", "failed"} {
		s.m.secretReloads.WithLabelValues(flag, result)
	}
}

// watchFiles reads every watched file each poll until stop is called.
func (s *Server) watchFiles() (stop func()) {
	if len(s.files) == 0 {
		return func() {}
	}
	every := s.cfg.SecretPoll
	if every <= 0 {
		every = defaultSecretPoll
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				for _, f := range s.files {
					s.recheck(f)
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// recheck applies f's content if it changed. A file that cannot be read or
// is refused keeps the value in use, is logged once per distinct problem
// (never with its content) and counted; the node runs on.
func (s *Server) recheck(f *watchedFile) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		if msg := err.Error(); msg != f.err {
			f.err = msg
			s.m.secretReloads.WithLabelValues(f.flag, "failed").Inc()
			s.log.Error("secret file unreadable; the value in use stays", "flag", "--"+f.flag, "err", err)
		}
		return
	}
	f.err = ""
	if bytes.Equal(b, f.last) {
		return
	}
	f.last = b
	if err := f.apply(b); err != nil {
		s.m.secretReloads.WithLabelValues(f.flag, "failed").Inc()
		s.log.Error("secret file refused; the value in use stays", "flag", "--"+f.flag, "err", err)
		return
	}
	s.m.secretReloads.WithLabelValues(f.flag, "ok").Inc()
	s.log.Info("secret file reloaded", "flag", "--"+f.flag)
}

// loadBearer sets dst from value or, when path is set, from that file,
// which is then watched. Validate has refused both being set.
func (s *Server) loadBearer(dst *secret, value, flag, path string) error {
	if path == "" {
		dst.set(value)
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	v, err := parseBearer(b, minBearer)
	if err != nil {
		return fmt.Errorf("--%s %s: %w", flag, path, err)
	}
	dst.set(v)
	s.watchFile(flag, path, b, func(b []byte) error {
		v, err := parseBearer(b, minBearer)
		if err == nil {
			dst.set(v)
		}
		return err
	})
	return nil
}

// loadSecrets reads every secret file and watches it.
func (s *Server) loadSecrets() error {
	if err := s.loadBearer(&s.publishSecret, s.cfg.PublishSecret, "publish-secret-file", s.cfg.PublishSecretFile); err != nil {
		return err
	}
	if err := s.loadBearer(&s.adminSecret, s.cfg.AdminSecret, "admin-secret-file", s.cfg.AdminSecretFile); err != nil {
		return err
	}
	s.watchRedisSecrets()
	return s.watchTokenKeys()
}

// minBearer is the shortest publish or admin secret accepted: 16 random
// characters are beyond guessing over HTTP.
const minBearer = 16

// watchTokenKeys reads the token key files again when either changes, as
// SIGHUP does.
func (s *Server) watchTokenKeys() error {
	for flag, path := range map[string]string{"token-secret-file": s.cfg.TokenSecretFile, "token-public-key": s.cfg.TokenPublicKeyFile} {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--%s: %w", flag, err)
		}
		s.watchFile(flag, path, b, func([]byte) error { return s.reloadKeys() })
	}
	return nil
}
