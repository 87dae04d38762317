package minikraft

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Reset runs the hooks of other controls after the cluster is empty, in order, and returns the
// first error.
func TestResetHooks(t *testing.T) {
	c := NewCluster(t, 1, Quiet())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var calls []string
	boom := errors.New("boom")
	fail := false
	c.onReset(func(ctx context.Context) error {
		if ts := c.Node(0).Meta().State().Topics; len(ts) != 0 {
			t.Errorf("hook ran before the reset: topics %v", ts)
		}
		calls = append(calls, "a")
		if fail {
			return boom
		}
		return nil
	})
	c.onReset(func(context.Context) error { calls = append(calls, "b"); return nil })
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := c.Reset(ctx); !errors.Is(err, boom) {
		t.Fatalf("Reset with a failing hook: %v", err)
	}
	if got := len(calls); got != 3 || calls[0] != "a" || calls[1] != "b" || calls[2] != "a" {
		t.Fatalf("hooks ran %v, want [a b a]", calls)
	}
}
