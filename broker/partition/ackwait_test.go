package partition

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

// The acks=all wait channel (changed) exists only while someone waits: ackState makes it,
// notifyLocked closes and drops it. These tests pin that down: a change nobody waits for costs
// nothing and loses nothing, and every parked WaitForAck wakes at every change and parks again
// on a fresh channel until its offset is committed.

// parked reports whether an acks=all wait has a channel out (a WaitForAck is parked, or is
// about to re-check).
func parked(p *Partition) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed != nil
}

// waitUntil polls cond until it holds or 10 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAckWaitChannelOnlyWhileWaiting(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	p.UpdateFollower(2, 0)

	// Appends and high-watermark moves that nobody waits for leave no channel behind.
	first, err := produce(t, p, -1, plain(2))
	wantOK(t, "append", err)
	if parked(p) {
		t.Fatal("an append nobody waits for made a wait channel")
	}
	p.UpdateFollower(2, 1)
	wantHW(t, p, 1, 2)
	if done, err := p.Acked(first.LeaderEpoch, first.LastOffset); done || err != nil {
		t.Fatalf("Acked(%d) with the high watermark at 1 = %v, %v", first.LastOffset, done, err)
	}
	if !parked(p) {
		t.Fatal("an unsettled acks=all check made no channel")
	}
	p.UpdateFollower(2, 2) // commits everything: the channel is closed and dropped
	if parked(p) {
		t.Fatal("the high watermark moved but the wait channel stayed")
	}

	// A parked wait wakes at each change, parks again on a new channel, and returns once its
	// offset is committed.
	second, err := produce(t, p, -1, plain(3)) // offsets 2..4
	wantOK(t, "append", err)
	done := make(chan error, 1)
	go func() { done <- p.WaitForAck(context.Background(), second.LeaderEpoch, second.LastOffset) }()
	waitUntil(t, "WaitForAck to park", func() bool { return parked(p) })

	p.UpdateFollower(2, 3) // the high watermark moves, not past the write
	mustProduce(t, p, plain(1))
	waitUntil(t, "WaitForAck to park again", func() bool { return parked(p) })
	select {
	case err := <-done:
		t.Fatalf("WaitForAck returned %v before its write was committed", err)
	default:
	}
	p.UpdateFollower(2, 5)
	select {
	case err := <-done:
		wantOK(t, "WaitForAck", err)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitForAck did not return once the high watermark passed its write")
	}
	if parked(p) {
		t.Fatal("a wait channel is left after the last wait ended")
	}
}

// Producers append with acks=all and wait while followers fetch at random moments: every wait
// must end with success, whether its change came before it parked, while it parked, or between
// two of its checks.
func TestConcurrentAckWaits(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 3})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2, 3}, []int32{self, 2, 3}))

	const producers, batches = 6, 50
	var wg sync.WaitGroup
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range batches {
				buf := plain(1 + (i+j)%3).encode()
				hdrs, err := log.ValidateBatches(buf, 0, nil)
				if err != nil {
					t.Errorf("producer %d batch %d: %v", i, j, err)
					return
				}
				info, err := p.AppendAsLeader(buf, hdrs, -1)
				if err != nil {
					t.Errorf("producer %d batch %d: %v", i, j, err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err = p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset)
				cancel()
				if err != nil {
					t.Errorf("producer %d batch %d (last offset %d): %v", i, j, info.LastOffset, err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var fwg sync.WaitGroup
	for _, id := range []int32{2, 3} {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// Sometimes a fetch at the log end, sometimes one that lags behind it.
				off := p.LogEndOffset()
				if n%3 == 0 && off > 0 {
					off--
				}
				p.UpdateFollower(id, off)
				if n%8 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	fwg.Wait()
}
