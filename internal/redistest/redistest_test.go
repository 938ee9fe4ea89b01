package redistest

import "testing"

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if _, err := s.Do("SET", "k", "1"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := s.Do("GET", "k"); err != nil || v != "1" {
		t.Fatalf("GET = %q, %v; want 1", v, err)
	}
	s.Restart()
	if v, err := s.Do("GET", "k"); err != nil || v != "" {
		t.Fatalf("after restart GET = %q, %v; want empty (no persistence)", v, err)
	}
	s.Kill()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("PING after Kill succeeded")
	}
}
