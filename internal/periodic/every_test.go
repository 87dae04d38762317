package periodic

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Every calls f after each interval, not at once, and returns when its context ends.
func TestEveryWaitsAnIntervalAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	start := time.Now()
	var first atomic.Int64
	go func() {
		defer close(done)
		Every(ctx, 20*time.Millisecond, func() {
			if calls.Add(1) == 1 {
				first.Store(int64(time.Since(start)))
			}
			if calls.Load() >= 3 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Every did not return after its context was cancelled")
	}
	// A tick that was due when the context ended may still be served (select picks at
	// random), but none is after Every returned.
	n := calls.Load()
	if n < 3 {
		t.Fatalf("f called %d times before Every returned, want at least 3", n)
	}
	time.Sleep(60 * time.Millisecond)
	if m := calls.Load(); m != n {
		t.Fatalf("f called %d more times after Every returned", m-n)
	}
	if d := time.Duration(first.Load()); d < 20*time.Millisecond {
		t.Fatalf("first call after %v, want one interval (20ms) after the start", d)
	}
}
