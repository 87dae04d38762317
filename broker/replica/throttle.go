package replica

import (
	"context"
	"sync"
	"time"
)

// The follower throttle: a limit on the bytes this node's replica fetchers take from their
// leaders per second, settable at run time (the test fixture's ThrottleFollower). It plays the
// part of Kafka's follower replication quota (follower.replication.throttled.rate), applied to
// every partition this node follows: a throttled follower falls behind for real, so its leader
// takes it out of the ISR after replica.lag.time.max.ms, and puts it back once it has caught up.
//
// It is a token bucket shared by the node's fetchers, holding at most one second of bytes. A
// fetch response's record bytes are taken from it (the bucket may go below zero: a response is
// never cut, as Kafka returns at least one whole batch); before its next fetch, a fetcher waits
// until the bucket is no longer in debt, holding no lock, and each fetch asks for at most one
// second's worth of bytes so that one response does not put the fetcher minutes into debt.

type fetchThrottle struct {
	mu      sync.Mutex // leaf
	rate    int64      // bytes per second; <= 0: unlimited
	tokens  float64    // may be negative: the debt of the last responses
	last    time.Time  // when tokens was last brought up to date
	changed chan struct{}
}

// SetFetchThrottle limits the bytes this node's replica fetchers take per second from all their
// leaders together; bytesPerSecond <= 0 removes the limit. A fetcher waiting out its debt starts
// again at once when the limit changes.
func (m *Manager) SetFetchThrottle(bytesPerSecond int64) {
	t := &m.throttle
	t.mu.Lock()
	defer t.mu.Unlock()
	if bytesPerSecond <= 0 {
		bytesPerSecond = 0
	}
	t.rate = bytesPerSecond
	t.tokens = 0 // a new limit starts with an empty bucket and no debt
	t.last = time.Now()
	if t.changed != nil {
		close(t.changed)
	}
	t.changed = make(chan struct{})
}

// FetchThrottle is the current limit, 0 when there is none.
func (m *Manager) FetchThrottle() int64 {
	m.throttle.mu.Lock()
	defer m.throttle.mu.Unlock()
	return m.throttle.rate
}

// refill brings tokens up to date. Called with t.mu held.
func (t *fetchThrottle) refill(now time.Time) {
	if t.rate <= 0 {
		return
	}
	t.tokens += now.Sub(t.last).Seconds() * float64(t.rate)
	if burst := float64(t.rate); t.tokens > burst {
		t.tokens = burst
	}
	t.last = now
}

// take charges n fetched bytes to the bucket.
func (t *fetchThrottle) take(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rate <= 0 || n <= 0 {
		return
	}
	t.refill(time.Now())
	t.tokens -= float64(n)
}

// limit bounds a fetch's byte limit to one second of the rate (at least 1 byte: the leader
// still answers one whole batch).
func (t *fetchThrottle) limit(maxBytes int32) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rate <= 0 || int64(maxBytes) <= t.rate {
		return maxBytes
	}
	return int32(max(t.rate, 1))
}

// wait returns once the bucket is out of debt, the limit changes, or ctx ends.
func (t *fetchThrottle) wait(ctx context.Context) {
	for {
		t.mu.Lock()
		if t.rate <= 0 {
			t.mu.Unlock()
			return
		}
		t.refill(time.Now())
		if t.tokens >= 0 {
			t.mu.Unlock()
			return
		}
		d := time.Duration(-t.tokens / float64(t.rate) * float64(time.Second))
		if t.changed == nil {
			t.changed = make(chan struct{})
		}
		changed := t.changed
		t.mu.Unlock()
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-changed:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
	}
}
