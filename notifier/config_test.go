package notifier

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := Default()
	c.TokenSecret = "test-secret-0123456789abcdef0123456789"
	return c
}

// Every duration setting is refused outside its bounds, with a message
// naming the flag and the bound, and accepted at the bounds themselves.
func TestDurationBounds(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("the zero Config validated")
	}
	base := validConfig()
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, b := range base.durationBounds() {
		t.Run(b.flag, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				d    time.Duration
				ok   bool
			}{
				{"at the minimum", b.min, true},
				{"at the maximum", b.max, true},
				{"below", b.min - time.Millisecond, false},
				{"above", b.max + time.Millisecond, false},
			} {
				// The other settings leave room on both sides, so only the
				// bound under test can fail.
				c := validConfig()
				c.FastInterval, c.SlowInterval, c.HintThrottle = time.Second, time.Hour, 0
				c.PingInterval, c.PingTimeout = time.Second, 10*time.Minute
				c.CallbackTTL, c.CallbackMaxTTL = time.Second, 24*time.Hour
				if b.flag == "hint-throttle" {
					c.FastInterval = 5 * time.Minute
				}
				set(&c, b.flag, tc.d)
				err := c.Validate()
				switch {
				case tc.ok && err != nil:
					t.Errorf("%s (%v): %v", tc.name, tc.d, err)
				case !tc.ok && (err == nil || !strings.Contains(err.Error(), "--"+b.flag+" ") || !strings.Contains(err.Error(), short(b.max))):
					t.Errorf("%s (%v): err = %v, want one naming --%s and its bound %s", tc.name, tc.d, err, b.flag, short(b.max))
				}
			}
		})
	}
}

// set changes the duration setting behind a flag name.
func set(c *Config, flag string, d time.Duration) {
	p := map[string]*time.Duration{
		"fast-interval":         &c.FastInterval,
		"slow-interval":         &c.SlowInterval,
		"hint-throttle":         &c.HintThrottle,
		"auth-callback-ttl":     &c.CallbackTTL,
		"auth-callback-max-ttl": &c.CallbackMaxTTL,
		"drain-timeout":         &c.DrainTimeout,
		"subscribe-every":       &c.SubscribeEvery,
		"write-timeout":         &c.WriteTimeout,
		"body-timeout":          &c.BodyTimeout,
		"ping-interval":         &c.PingInterval,
		"ping-timeout":          &c.PingTimeout,
		"subscribe-timeout":     &c.SubscribeTimeout,
		"max-token-ttl":         &c.MaxTokenTTL,
	}[flag]
	*p = d
}

func TestDurationRelations(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"slow below fast", func(c *Config) { c.FastInterval, c.SlowInterval = 10*time.Second, 5*time.Second }, "--slow-interval 5s must be at least --fast-interval 10s"},
		{"throttle past fast", func(c *Config) { c.FastInterval, c.HintThrottle = time.Second, 2*time.Second }, "--hint-throttle 2s must not exceed --fast-interval 1s"},
		{"ping timeout not above interval", func(c *Config) { c.PingInterval, c.PingTimeout = 30*time.Second, 30*time.Second }, "--ping-timeout must exceed --ping-interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 5 * time.Minute: "5m", 90 * time.Second: "1m30s", 100 * time.Millisecond: "100ms",
		0: "0s", 900 * time.Hour: "900h", 90 * time.Minute: "1h30m",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q, want %q", d, got, want)
		}
	}
}
