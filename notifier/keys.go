package notifier

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pushpoll/pushpoll/authbridge"
)

// tokenKeys gathers the token verification keys from the configuration:
// --token-secret and the lines of --token-secret-file, or the PEM blocks of
// --token-public-key (a file, read again on every reload).
func (c *Config) tokenKeys() (authbridge.Keys, error) {
	var k authbridge.Keys
	if c.TokenSecret != "" {
		k.Secrets = append(k.Secrets, []byte(c.TokenSecret))
	}
	if c.TokenSecretFile != "" {
		secrets, err := readSecrets(c.TokenSecretFile)
		if err != nil {
			return k, fmt.Errorf("--token-secret-file: %w", err)
		}
		k.Secrets = append(k.Secrets, secrets...)
	}
	k.PublicKeyPEM = c.TokenPublicKey
	if c.TokenPublicKeyFile != "" {
		pem, err := os.ReadFile(c.TokenPublicKeyFile)
		if err != nil {
			return k, fmt.Errorf("--token-public-key: %w", err)
		}
		k.PublicKeyPEM = pem
	}
	return k, nil
}

// nodeSecrets are --node-secret, or the lines of --node-secret-file.
func (c *Config) nodeSecrets() ([][]byte, error) {
	if c.NodeSecret != "" {
		return [][]byte{[]byte(c.NodeSecret)}, nil
	}
	if c.NodeSecretFile == "" {
		return nil, nil
	}
	secrets, err := readSecrets(c.NodeSecretFile)
	if err != nil {
		return nil, fmt.Errorf("--node-secret-file: %w", err)
	}
	for i, s := range secrets {
		if len(s) < 32 {
			return nil, fmt.Errorf("--node-secret-file: line %d of %d is %d characters, at least 32 are needed", i+1, len(secrets), len(s))
		}
	}
	return secrets, nil
}

// readSecrets reads one secret per line; blank lines and lines starting
// with # are skipped, and surrounding spaces do not count.
func readSecrets(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, []byte(line))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no secret in the file")
	}
	return out, sc.Err()
}

// ReloadKeys reads the token keys again from --token-secret-file and
// --token-public-key (cmd/notifier calls it on SIGHUP). Subscribes from
// then on are verified with the new keys; sockets stay, and so do their
// grants, except those whose key was removed: they end with `expired`, and
// the client subscribes again with a fresh token. On error the keys in use
// stay.
func (s *Server) ReloadKeys() error {
	err := s.reloadKeys()
	if err != nil {
		s.m.keyReloads.WithLabelValues("failed").Inc()
		s.log.Error("token keys not reloaded; the old ones stay", "err", err)
		return err
	}
	s.m.keyReloads.WithLabelValues("ok").Inc()
	revoked := s.revokeRemovedKeys()
	s.log.Info("token keys reloaded", "grants_revoked", revoked)
	return nil
}

// revokeRemovedKeys ends, with `expired`, every grant whose token key the
// reload removed: whoever can no longer get a token signed by a held key
// must not keep receiving hints until an exp that may be far off.
func (s *Server) revokeRemovedKeys() int {
	setter, ok := s.auth.(authbridge.KeySetter)
	if !ok {
		return 0
	}
	total := 0
	s.hub.eachSocket(func(sk *socket) {
		if n := sk.revoke(setter.Holds); n > 0 {
			total += n
			s.events.expire(sk)
		}
	})
	s.m.grantsRevoked.Add(float64(total))
	return total
}

func (s *Server) reloadKeys() error {
	if s.cfg.TokenSecretFile == "" && s.cfg.TokenPublicKeyFile == "" {
		return errors.New("nothing to reload: keys come from files only with --token-secret-file or --token-public-key")
	}
	setter, ok := s.auth.(authbridge.KeySetter)
	if !ok {
		return errors.New("this node does not verify tokens")
	}
	k, err := s.cfg.tokenKeys()
	if err != nil {
		return err
	}
	return setter.SetKeys(k)
}
