package notifier

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// readRedisSecrets resolves --redis-url-file and --redis-password-file into
// cfg.RedisURL and the credentials every dial reads (redisx.Credentials),
// so that a rotated password reaches new connections without a restart.
func readRedisSecrets(cfg *Config) error {
	if cfg.RedisURLFile != "" {
		b, err := os.ReadFile(cfg.RedisURLFile)
		if err != nil {
			return fmt.Errorf("--redis-url-file: %w", err)
		}
		cfg.RedisURL = strings.TrimSpace(string(b))
		if _, err := redisx.Parse(cfg.RedisURL); err != nil {
			return fmt.Errorf("--redis-url-file %s: %w", cfg.RedisURLFile, err)
		}
	}
	if cfg.RedisURL == "" {
		if cfg.RedisTLS.set() || cfg.SentinelPasswordFile != "" {
			return errors.New("--redis-tls-* and --redis-sentinel-password-file need a Redis URL")
		}
		return nil
	}
	u, _ := redisx.Parse(cfg.RedisURL) // Validate or the file check above parsed it
	cfg.redisURL = u
	if cfg.RedisTLS.set() && !u.TLS {
		return errors.New("--redis-tls-* need a rediss:// URL (rediss-sentinel://, rediss-cluster://)")
	}
	var err error
	if cfg.redisTLS, err = cfg.RedisTLS.config(); err != nil {
		return err
	}
	if cfg.SentinelPasswordFile != "" {
		if u.Kind != redisx.Sentinel {
			return errors.New("--redis-sentinel-password-file needs a redis-sentinel:// URL")
		}
		b, err := os.ReadFile(cfg.SentinelPasswordFile)
		if err != nil {
			return fmt.Errorf("--redis-sentinel-password-file: %w", err)
		}
		pw, err := parsePassword(b)
		if err != nil {
			return fmt.Errorf("--redis-sentinel-password-file %s: %w", cfg.SentinelPasswordFile, err)
		}
		cfg.sentinelCreds = redisx.NewCredentials("", pw)
	}
	cfg.redisCreds = redisx.NewCredentials(u.Username, u.Password)
	if cfg.RedisPasswordFile != "" {
		b, err := os.ReadFile(cfg.RedisPasswordFile)
		if err != nil {
			return fmt.Errorf("--redis-password-file: %w", err)
		}
		pw, err := parsePassword(b)
		if err != nil {
			return fmt.Errorf("--redis-password-file %s: %w", cfg.RedisPasswordFile, err)
		}
		cfg.redisCreds.Set(u.Username, pw)
	}
	return nil
}

func parsePassword(b []byte) (string, error) {
	pw := strings.TrimSpace(string(b))
	switch {
	case pw == "":
		return "", fmt.Errorf("%w: empty", errSecretFile)
	case strings.ContainsAny(pw, "\r\n"):
		return "", fmt.Errorf("%w: more than one line", errSecretFile)
	}
	return pw, nil
}

// errRestart refuses a URL file whose servers changed: the broker's links
// are built from them at start.
var errRestart = errors.New("the servers, database, master name or TLS changed: restart the node to apply them (the URL in use stays)")

// watchRedisSecrets watches the Redis files read at start.
func (s *Server) watchRedisSecrets() {
	creds, running := s.cfg.redisCreds, s.cfg.redisURL
	if s.cfg.RedisURLFile != "" {
		b, _ := os.ReadFile(s.cfg.RedisURLFile)
		s.watchFile("redis-url-file", s.cfg.RedisURLFile, b, func(b []byte) error {
			u, err := redisx.Parse(strings.TrimSpace(string(b)))
			switch {
			case err != nil:
				return err
			case !u.SameServers(running):
				return errRestart
			case s.cfg.RedisPasswordFile == "":
				creds.Set(u.Username, u.Password)
			default:
				// The password file has the last word on the password.
				_, pw := creds.Get()
				creds.Set(u.Username, pw)
			}
			return nil
		})
	}
	if s.cfg.SentinelPasswordFile != "" {
		b, _ := os.ReadFile(s.cfg.SentinelPasswordFile)
		sentinel := s.cfg.sentinelCreds
		s.watchFile("redis-sentinel-password-file", s.cfg.SentinelPasswordFile, b, func(b []byte) error {
			pw, err := parsePassword(b)
			if err == nil {
				sentinel.Set("", pw)
			}
			return err
		})
	}
	if s.cfg.RedisPasswordFile != "" {
		b, _ := os.ReadFile(s.cfg.RedisPasswordFile)
		s.watchFile("redis-password-file", s.cfg.RedisPasswordFile, b, func(b []byte) error {
			pw, err := parsePassword(b)
			if err == nil {
				user, _ := creds.Get()
				creds.Set(user, pw)
			}
			return err
		})
	}
}
