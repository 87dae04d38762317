package minikraft_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// TestPartitionReassignment moves a replicated partition to two other brokers under load, as
// kafka-reassign-partitions does: the new replicas catch up and join the ISR, the old ones
// leave, leadership moves to the new set, and every acknowledged record is still there.
func TestPartitionReassignment(t *testing.T) {
	c := minikraft.NewCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("moving"), kgo.RequiredAcks(kgo.AllISRAcks()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "moving"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "moving"); err != nil {
		t.Fatal(err)
	}
	produce := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(200)
	old := c.Node(0).Meta().State().Topics["moving"].Partitions[0].Replicas
	var target []int32
	for id := int32(0); id < 4; id++ {
		if !slices.Contains(old, id) {
			target = append(target, id)
		}
	}

	// Bad targets first: refused per partition, nothing changes.
	var bad kadm.AlterPartitionAssignmentsReq
	bad.Assign("moving", 0, []int32{target[0], 9})
	if r, err := adm.AlterPartitionAssignments(ctx, bad); err != nil || !errors.Is(r["moving"][0].Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("unknown broker: %v %+v", err, r)
	}
	var none kadm.AlterPartitionAssignmentsReq
	none.CancelAssign("moving", 0)
	if r, err := adm.AlterPartitionAssignments(ctx, none); err != nil || !errors.Is(r["moving"][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel with none in progress: %v %+v", err, r)
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("moving", 0, target)
	r, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || r["moving"][0].Err != nil {
		t.Fatalf("reassign to %v: %v %+v", target, err, r)
	}
	produce(100) // while it moves
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moving": {0: {}}})
		p := c.Node(0).Meta().State().Topics["moving"].Partitions[0]
		if err == nil && len(l) == 0 && slices.Equal(p.Replicas, target) && slices.Contains(target, p.Leader) {
			slices.Sort(p.ISR)
			if slices.Equal(p.ISR, target) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("still moving: listed %+v (%v), partition %+v", l, err, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	produce(100)

	cons := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("moving"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 400 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 400: %v", got, fs.Errors())
		}
		got += fs.NumRecords()
	}
	if got != 400 {
		t.Fatalf("consumed %d, want 400", got)
	}
}
