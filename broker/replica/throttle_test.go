package replica

import (
	"context"
	"testing"
	"time"
)

// A fetcher in debt waits; lifting the limit releases it at once; a fetch asks for at most one
// second of bytes.
func TestFetchThrottle(t *testing.T) {
	var m Manager
	if got := m.throttle.limit(1 << 20); got != 1<<20 {
		t.Fatalf("unlimited: limit %d", got)
	}
	m.SetFetchThrottle(10)
	if got := m.throttle.limit(1 << 20); got != 10 {
		t.Fatalf("limit %d, want 10", got)
	}
	m.throttle.take(1000) // 100 s of debt
	done := make(chan struct{})
	go func() {
		m.throttle.wait(context.Background())
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a fetcher in debt did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	m.SetFetchThrottle(0)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("lifting the limit did not release the fetcher")
	}
	if m.FetchThrottle() != 0 {
		t.Fatal("limit still set")
	}
}
