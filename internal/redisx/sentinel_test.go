package redisx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
)

func TestDialMasterAsksSentinelsInTurn(t *testing.T) {
	set := redistest.StartSentinels(t)
	dead, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	u, err := Parse(set.URL)
	if err != nil {
		t.Fatal(err)
	}
	// A dead sentinel first: the next one answers.
	u.Addrs = append([]string{"127.0.0.1:" + itoa(dead)}, u.Addrs...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, addr, err := u.DialMaster(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if addr != set.Master.Addr {
		t.Fatalf("master at %s, want %s", addr, set.Master.Addr)
	}
	if _, err := conn.Do("SET", "k", "v"); err != nil {
		t.Fatalf("the connection is not to a writable master: %v", err)
	}

	u.Master = "nosuch"
	if _, _, err := u.DialMaster(ctx, time.Second); !errors.Is(err, ErrNoMaster) {
		t.Fatalf("unknown master name: %v, want ErrNoMaster", err)
	}
}
