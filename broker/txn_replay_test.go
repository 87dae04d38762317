package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
)

// replayLeader is a __transaction_state partition led by node 0 with follower 1 in the ISR,
// holding records 0-1 that the follower has not fetched: what a new leader finds when the old
// one was killed with its last Prepare record on this replica only.
func replayLeader(t *testing.T) *partition.Partition {
	t.Helper()
	l, err := log.Open(t.TempDir(), log.DefaultConfig(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := partition.New(l, partition.Config{Topic: transactionTopic, NodeID: 0, MinInsyncReplicas: 2, ReplicaLagTimeMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.BecomeLeader(3, 3, []int32{0, 1}, []int32{0, 1}); err != nil {
		t.Fatal(err)
	}
	p.UpdateFollower(1, 0)
	batch := log.EncodeBatch([]log.KeyValue{{Key: []byte("k1"), Value: []byte("ongoing")}, {Key: []byte("k1"), Value: []byte("prepare-commit")}}, time.Now().UnixMilli())
	hdrs, err := log.ValidateBatches(batch, len(batch), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendAsLeader(batch, hdrs, 1); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTxnReplayWaitsForCommitted: the wait txnStore.ReplayCommitted returns (waitCommitted) ends
// only once the records the new leader holds are below the high watermark, so the Prepare states
// the coordinator then acts on (sending markers) can no longer be lost to the next failover; it
// fails when the leadership moves meanwhile, or when its context ends.
func TestTxnReplayWaitsForCommitted(t *testing.T) {
	p := replayLeader(t)
	_, epoch := p.Leader()
	done := make(chan error, 1)
	go func() { done <- waitCommitted(context.Background(), p, epoch, p.LogEndOffset()) }()
	select {
	case err := <-done:
		t.Fatalf("the wait returned (%v) with the records above the high watermark (%d)", err, p.HighWatermark())
	case <-time.After(100 * time.Millisecond):
	}
	p.UpdateFollower(1, 1) // the follower has record 0 only: still not committed
	select {
	case err := <-done:
		t.Fatalf("the wait returned (%v) with record 1 above the high watermark (%d)", err, p.HighWatermark())
	case <-time.After(100 * time.Millisecond):
	}
	p.UpdateFollower(1, 2)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not return once the records were committed")
	}

	moved := replayLeader(t)
	go func() { done <- waitCommitted(context.Background(), moved, epoch, moved.LogEndOffset()) }()
	if err := moved.BecomeFollower(1, 4, 4, []int32{0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, partition.ErrNotLeader) {
		t.Fatalf("leadership moved during the wait: %v, want %v", err, partition.ErrNotLeader)
	}

	ctx, cancel := context.WithCancel(context.Background())
	waiting := replayLeader(t)
	go func() { done <- waitCommitted(ctx, waiting, epoch, waiting.LogEndOffset()) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("context canceled during the wait: %v", err)
	}
}
