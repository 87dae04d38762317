package controller

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/minikraft/minikraft/raftmeta"
)

func wantPartition(t *testing.T, n *raftmeta.Node, replicas, isr, adding, removing []int32, leader int32) *raftmeta.Partition {
	t.Helper()
	p := n.State().Partition("r", 0)
	if !slices.Equal(p.Replicas, replicas) || !slices.Equal(p.ISR, isr) || !slices.Equal(p.AddingReplicas, adding) ||
		!slices.Equal(p.RemovingReplicas, removing) || p.Leader != leader {
		t.Fatalf("partition %+v, want replicas %v ISR %v adding %v removing %v leader %d", p, replicas, isr, adding, removing, leader)
	}
	return p
}

// TestReassignment walks KIP-455's states: a move waits for the new replica to join the ISR,
// then completes (the leaving leader hands over); a pure removal completes at once; a cancel
// returns to the replicas before; bad targets are refused as KRaft refuses them.
func TestReassignment(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2, 3)
	ctx := ctxFor(t)
	if _, err := c.CreateTopic(ctx, TopicSpec{Name: "r", Assignment: [][]int32{{0, 1, 2}}}, false); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{0, 1, 2}, []int32{0, 1, 2}, nil, nil, 0)

	// Move 0's replica to 3: 3 follows, 0 keeps leading until 3 is in sync.
	if err := c.AlterReassignment(ctx, "r", 0, []int32{3, 1, 2}); err != nil {
		t.Fatal(err)
	}
	p := wantPartition(t, n, []int32{3, 1, 2, 0}, []int32{0, 1, 2}, []int32{3}, []int32{0}, 0)
	if got, err := c.Reassignments(); err != nil || len(got) != 1 || got[0].Topic != "r" || !slices.Equal(got[0].Adding, []int32{3}) {
		t.Fatalf("Reassignments() = %+v, %v", got, err)
	}
	if err := c.AlterPartition(ctx, "r", 0, 0, p.LeaderEpoch, p.PartitionEpoch, []int32{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{3, 1, 2}, []int32{1, 2, 3}, nil, nil, 3)
	if got, err := c.Reassignments(); err != nil || len(got) != 0 {
		t.Fatalf("Reassignments() after completion = %+v, %v", got, err)
	}

	// Dropping a replica needs nobody to catch up.
	if err := c.AlterReassignment(ctx, "r", 0, []int32{3, 1}); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{3, 1}, []int32{1, 3}, nil, nil, 3)

	// Cancelled before the new replica joined: back to where it was.
	if err := c.AlterReassignment(ctx, "r", 0, []int32{0, 2}); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{0, 2, 3, 1}, []int32{1, 3}, []int32{0, 2}, []int32{3, 1}, 3)
	if err := c.AlterReassignment(ctx, "r", 0, nil); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{3, 1}, []int32{1, 3}, nil, nil, 3)

	for _, tc := range []struct {
		target []int32
		want   error
	}{
		{nil, ErrNoReassignmentInProgress},
		{[]int32{}, ErrInvalidReplicaAssignment},
		{[]int32{1, 1}, ErrInvalidReplicaAssignment},
		{[]int32{1, 9}, ErrInvalidReplicaAssignment},
	} {
		if err := c.AlterReassignment(ctx, "r", 0, tc.target); !errors.Is(err, tc.want) {
			t.Fatalf("target %v: %v, want %v", tc.target, err, tc.want)
		}
	}
	if err := c.AlterReassignment(ctx, "r", 1, []int32{1}); !errors.Is(err, raftmeta.ErrUnknownTopic) {
		t.Fatalf("unknown partition: %v", err)
	}
}

// TestReassignmentCompletedByTick: a reassignment whose adding replicas are all in sync but that
// no ISR change completed (the controller failed over in between) is completed by Tick.
func TestReassignmentCompletedByTick(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	ctx := ctxFor(t)
	if _, err := c.CreateTopic(ctx, TopicSpec{Name: "r", Assignment: [][]int32{{0, 1}}}, false); err != nil {
		t.Fatal(err)
	}
	propose(t, n, raftmeta.ChangePartition{Topic: "r", Partition: 0, ExpectedPartitionEpoch: -1,
		Replicas: []int32{2, 1, 0}, ISR: []int32{0, 1, 2}, SetReassignment: true, AddingReplicas: []int32{2}, RemovingReplicas: []int32{0}})
	if err := c.Tick(ctx, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{2, 1}, []int32{1, 2}, nil, nil, 2)
}

// TestReassignmentNeverDropsTheLastInSyncReplica: once only an adding replica is in sync, a
// cancel is refused (it would need an unclean election) and a new target keeps that replica
// until a target replica has caught up. A target equal to the replicas changes nothing.
func TestReassignmentNeverDropsTheLastInSyncReplica(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2, 3)
	ctx := ctxFor(t)
	if _, err := c.CreateTopic(ctx, TopicSpec{Name: "r", Assignment: [][]int32{{0, 1}}}, false); err != nil {
		t.Fatal(err)
	}
	epoch := n.State().Partition("r", 0).PartitionEpoch
	if err := c.AlterReassignment(ctx, "r", 0, []int32{0, 1}); err != nil || n.State().Partition("r", 0).PartitionEpoch != epoch {
		t.Fatalf("same replicas: %v, partition epoch %d → %d", err, epoch, n.State().Partition("r", 0).PartitionEpoch)
	}
	if err := c.AlterReassignment(ctx, "r", 0, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	// Only 2 is in sync now, and leads.
	propose(t, n, raftmeta.ChangePartition{Topic: "r", Partition: 0, ExpectedPartitionEpoch: -1, Leader: i32p(2), ISR: []int32{2}})
	before := wantPartition(t, n, []int32{2, 3, 0, 1}, []int32{2}, []int32{2, 3}, []int32{0, 1}, 2)
	if err := c.AlterReassignment(ctx, "r", 0, nil); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("cancel with only an adding replica in sync: %v", err)
	}
	if n.State().Partition("r", 0).PartitionEpoch != before.PartitionEpoch {
		t.Fatal("a refused cancel changed the partition")
	}
	if err := c.AlterReassignment(ctx, "r", 0, []int32{3}); err != nil {
		t.Fatal(err)
	}
	p := wantPartition(t, n, []int32{3, 2, 0, 1}, []int32{2}, nil, []int32{2, 0, 1}, 2)
	if err := c.AlterPartition(ctx, "r", 0, 2, p.LeaderEpoch, p.PartitionEpoch, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, n, []int32{3}, []int32{3}, nil, nil, 3)
}

func i32p(v int32) *int32 { return &v }
