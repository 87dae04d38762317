package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minikraft/minikraft/raftmeta"
)

const testWait = 20 * time.Second // generous: -race on a loaded two-core machine

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// startMeta starts a single-voter, in-memory metadata quorum and waits until it leads.
func startMeta(t testing.TB) *raftmeta.Node {
	t.Helper()
	_, tr := raft.NewInmemTransport("inmem0")
	n, err := raftmeta.Start(raftmeta.Config{
		NodeID:    0,
		ClusterID: "test-cluster-id-0000",
		Dir:       t.TempDir(),
		Voters:    []raftmeta.Voter{{ID: 0, Addr: "inmem0"}},
		Voter:     true,
		Transport: tr,
		InMemory:  true,
	})
	if err != nil {
		t.Fatalf("raftmeta.Start: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.WaitForLeader(ctxFor(t)); err != nil {
		t.Fatalf("WaitForLeader: %v", err)
	}
	return n
}

func propose(t testing.TB, n *raftmeta.Node, cmd raftmeta.Command) any {
	t.Helper()
	res, err := n.Propose(ctxFor(t), cmd)
	if err != nil {
		t.Fatalf("propose %T: %v", cmd, err)
	}
	return res
}

// newTestController starts a metadata node with brokers registered (unfenced) and a controller
// on it.
func newTestController(t testing.TB, brokers ...int32) (*Controller, *raftmeta.Node) {
	t.Helper()
	n := startMeta(t)
	for _, id := range brokers {
		propose(t, n, raftmeta.RegisterBroker{Broker: raftmeta.Broker{
			ID:        id,
			Listeners: []raftmeta.Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9092 + id, SecurityProtocol: "PLAINTEXT"}},
		}})
	}
	return New(n, nil), n
}

func wantErrIs(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want an error wrapping %v", what, err, want)
	}
}

// checkTopic checks the committed topic: partitions, distinct registered replicas, every replica
// in the ISR and the first one leading.
func checkTopic(t testing.TB, n *raftmeta.Node, name string, partitions, rf int) *raftmeta.Topic {
	t.Helper()
	st := n.State()
	top := st.Topics[name]
	if top == nil {
		t.Fatalf("topic %q not in the metadata", name)
	}
	if len(top.Partitions) != partitions {
		t.Fatalf("topic %q has %d partitions, want %d", name, len(top.Partitions), partitions)
	}
	if top.ID == ([16]byte{}) || st.TopicIDs[top.ID] != name {
		t.Fatalf("topic %q has id %x, indexed as %q", name, top.ID, st.TopicIDs[top.ID])
	}
	for i, p := range top.Partitions {
		if p.ID != int32(i) || len(p.Replicas) != rf {
			t.Fatalf("%s-%d: %+v, want id %d with %d replicas", name, i, p, i, rf)
		}
		for j, r := range p.Replicas {
			if st.Brokers[r] == nil || slices.Contains(p.Replicas[:j], r) {
				t.Fatalf("%s-%d: replicas %v", name, i, p.Replicas)
			}
		}
		if !slices.Equal(p.ISR, p.Replicas) || p.Leader != p.Replicas[0] {
			t.Fatalf("%s-%d: isr %v leader %d for replicas %v", name, i, p.ISR, p.Leader, p.Replicas)
		}
	}
	return top
}

func TestCreateTopic(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	ctx := ctxFor(t)

	got, err := c.CreateTopic(ctx, TopicSpec{Name: "orders", Partitions: 6, ReplicationFactor: 2, Configs: map[string]string{"cleanup.policy": "compact"}}, false)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	top := checkTopic(t, n, "orders", 6, 2)
	if got != top {
		t.Fatalf("CreateTopic returned %+v, the metadata holds %+v", got, top)
	}
	leaders := map[int32]int{}
	for _, p := range top.Partitions {
		leaders[p.Leader]++
	}
	if leaders[0] != 2 || leaders[1] != 2 || leaders[2] != 2 {
		t.Fatalf("leaders per broker %v, want 2 each", leaders)
	}
	if cfg := n.State().Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceTopic, Name: "orders"}]; cfg["cleanup.policy"] != "compact" {
		t.Fatalf("topic configs = %v", cfg)
	}

	// Internal topics keep the flag.
	if _, err := c.CreateTopic(ctx, TopicSpec{Name: "__consumer_offsets", Partitions: 3, ReplicationFactor: 1, Internal: true}, false); err != nil {
		t.Fatal(err)
	}
	if !checkTopic(t, n, "__consumer_offsets", 3, 1).Internal {
		t.Fatal("internal flag lost")
	}
}

func TestCreateTopicValidateOnly(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	before := n.State()
	top, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "dry", Partitions: 4, ReplicationFactor: 3}, true)
	if err != nil {
		t.Fatalf("validate-only CreateTopic: %v", err)
	}
	if top == nil || top.Name != "dry" || len(top.Partitions) != 4 {
		t.Fatalf("validate-only CreateTopic returned %+v", top)
	}
	for _, p := range top.Partitions {
		if len(p.Replicas) != 3 || p.Leader != p.Replicas[0] {
			t.Fatalf("validate-only partition %+v", p)
		}
	}
	if after := n.State(); after.Index != before.Index || after.Topics["dry"] != nil {
		t.Fatalf("validate-only CreateTopic changed the metadata (index %d → %d)", before.Index, after.Index)
	}
	// Validation still applies.
	_, err = c.CreateTopic(ctxFor(t), TopicSpec{Name: "dry", Partitions: 4, ReplicationFactor: 4}, true)
	wantErrIs(t, "validate-only with RF 4 on 3 brokers", err, ErrInvalidReplicationFactor)
	// And it can then be created for real.
	if _, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "dry", Partitions: 4, ReplicationFactor: 3}, false); err != nil {
		t.Fatalf("CreateTopic after validate-only: %v", err)
	}
	checkTopic(t, n, "dry", 4, 3)
}

func TestCreateTopicRejects(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	ctx := ctxFor(t)
	if _, err := c.CreateTopic(ctx, TopicSpec{Name: "exists", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	before := n.State().Index

	for _, tc := range []struct {
		name string
		spec TopicSpec
		want error
	}{
		{"duplicate", TopicSpec{Name: "exists", Partitions: 1, ReplicationFactor: 1}, raftmeta.ErrTopicExists},
		{"zero partitions", TopicSpec{Name: "t", Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions},
		{"negative partitions", TopicSpec{Name: "t", Partitions: -1, ReplicationFactor: 1}, ErrInvalidPartitions},
		{"zero replication factor", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 0}, ErrInvalidReplicationFactor},
		{"replication factor above brokers", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 4}, ErrInvalidReplicationFactor},
		{"duplicate broker", TopicSpec{Name: "t", Assignment: [][]int32{{0, 1}, {2, 2}}}, ErrInvalidReplicaAssignment},
		{"unknown broker", TopicSpec{Name: "t", Assignment: [][]int32{{0, 7}}}, ErrInvalidReplicaAssignment},
		{"uneven replica counts", TopicSpec{Name: "t", Assignment: [][]int32{{0, 1}, {2}}}, ErrInvalidReplicaAssignment},
		{"uneven replica counts, shorter first", TopicSpec{Name: "t", Assignment: [][]int32{{0}, {1, 2}}}, ErrInvalidReplicaAssignment},
		{"empty replica list", TopicSpec{Name: "t", Assignment: [][]int32{{0}, {}}}, ErrInvalidReplicaAssignment},
	} {
		for _, validateOnly := range []bool{true, false} {
			_, err := c.CreateTopic(ctx, tc.spec, validateOnly)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s (validateOnly %v): got %v, want %v", tc.name, validateOnly, err, tc.want)
			}
		}
	}
	if after := n.State(); after.Index != before || after.Topics["t"] != nil || len(after.Topics) != 1 {
		t.Fatalf("rejected creates changed the metadata (index %d → %d, topics %v)", before, after.Index, after.Topics)
	}
}

func TestCreateTopicExplicitAssignment(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	want := [][]int32{{2, 0}, {1, 2}, {0, 1}, {2, 1}}
	// Partitions and ReplicationFactor are ignored when an assignment is given.
	if _, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "manual", Partitions: 1, ReplicationFactor: 3, Assignment: want}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	top := checkTopic(t, n, "manual", 4, 2)
	for i, p := range top.Partitions {
		if !slices.Equal(p.Replicas, want[i]) {
			t.Fatalf("partition %d: replicas %v, want %v", i, p.Replicas, want[i])
		}
	}
}

// Only unfenced brokers receive new replicas.
func TestCreateTopicSkipsFencedBrokers(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	propose(t, n, raftmeta.SetBrokerFenced{ID: 2, Fenced: true})
	_, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 3}, false)
	wantErrIs(t, "RF 3 with one of 3 brokers fenced", err, ErrInvalidReplicationFactor)
	if _, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "t", Partitions: 8, ReplicationFactor: 2}, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range checkTopic(t, n, "t", 8, 2).Partitions {
		if slices.Contains(p.Replicas, 2) {
			t.Fatalf("partition %d placed on fenced broker 2: %v", p.ID, p.Replicas)
		}
	}
}

// A manual assignment may name a fenced broker (it is registered), but a fenced broker cannot
// lead or count as in sync: KRaft's ReplicationControlManager.createTopic builds the ISR from the
// active replicas only and elects the first of them, and refuses the partition
// (INVALID_REPLICATION_FACTOR) when none is active.
func TestCreateTopicManualAssignmentWithFencedBroker(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	propose(t, n, raftmeta.SetBrokerFenced{ID: 2, Fenced: true})

	if _, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "t", Assignment: [][]int32{{2, 0}, {1, 2}}}, false); err != nil {
		t.Fatalf("CreateTopic naming fenced broker 2: %v", err)
	}
	top := n.State().Topics["t"]
	for _, p := range top.Partitions {
		if p.Leader == 2 || slices.Contains(p.ISR, 2) {
			t.Errorf("partition %d: replicas %v, ISR %v, leader %d: fenced broker 2 leads or is in sync", p.ID, p.Replicas, p.ISR, p.Leader)
		}
	}

	// Kafka (ReplicationControlManager.createTopic) blames the assignment the client gave, not
	// the replication factor; librdkafka's create_topics surfaces the code as it is.
	_, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "u", Assignment: [][]int32{{2}}}, false)
	wantErrIs(t, "manual assignment on fenced brokers only", err, ErrInvalidReplicaAssignment)
	_, err = c.CreateTopic(ctxFor(t), TopicSpec{Name: "u", Assignment: [][]int32{{2}}}, true)
	wantErrIs(t, "validate-only manual assignment on fenced brokers only", err, ErrInvalidReplicaAssignment)
}

func TestCreatePartitions(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	ctx := ctxFor(t)
	if _, err := c.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 2}, false); err != nil {
		t.Fatal(err)
	}
	before := checkTopic(t, n, "t", 2, 2)

	wantErrIs(t, "unknown topic", c.CreatePartitions(ctx, "nope", 3, nil, false), raftmeta.ErrUnknownTopic)
	wantErrIs(t, "shrink", c.CreatePartitions(ctx, "t", 1, nil, false), ErrInvalidPartitions)
	wantErrIs(t, "same count", c.CreatePartitions(ctx, "t", 2, nil, false), ErrInvalidPartitions)
	wantErrIs(t, "wrong number of assignments", c.CreatePartitions(ctx, "t", 4, [][]int32{{0, 1}}, false), ErrInvalidReplicaAssignment)
	wantErrIs(t, "assignment with another RF", c.CreatePartitions(ctx, "t", 3, [][]int32{{0}}, false), ErrInvalidReplicaAssignment)
	wantErrIs(t, "assignment with a duplicate broker", c.CreatePartitions(ctx, "t", 3, [][]int32{{1, 1}}, false), ErrInvalidReplicaAssignment)
	wantErrIs(t, "assignment with an unknown broker", c.CreatePartitions(ctx, "t", 3, [][]int32{{1, 9}}, false), ErrInvalidReplicaAssignment)

	// Validate-only: accepted, nothing changes.
	idx := n.State().Index
	if err := c.CreatePartitions(ctx, "t", 5, nil, true); err != nil {
		t.Fatalf("validate-only CreatePartitions: %v", err)
	}
	if n.State().Index != idx || n.State().Topics["t"] != before {
		t.Fatal("validate-only CreatePartitions changed the metadata")
	}

	// Placed automatically: the old partitions are untouched.
	if err := c.CreatePartitions(ctx, "t", 5, nil, false); err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	after := checkTopic(t, n, "t", 5, 2)
	for i := range 2 {
		if after.Partitions[i] != before.Partitions[i] {
			t.Fatalf("partition %d changed: %+v → %+v", i, before.Partitions[i], after.Partitions[i])
		}
	}
	// Old and new partitions each go round-robin, so no broker leads more than two of five.
	leaders := map[int32]int{}
	for _, p := range after.Partitions {
		leaders[p.Leader]++
	}
	for id, k := range leaders {
		if k > 2 {
			t.Fatalf("broker %d leads %d of 5 partitions: %v", id, k, leaders)
		}
	}

	// Placed explicitly.
	if err := c.CreatePartitions(ctx, "t", 7, [][]int32{{2, 1}, {0, 2}}, false); err != nil {
		t.Fatalf("CreatePartitions with an assignment: %v", err)
	}
	top := checkTopic(t, n, "t", 7, 2)
	if !slices.Equal(top.Partitions[5].Replicas, []int32{2, 1}) || !slices.Equal(top.Partitions[6].Replicas, []int32{0, 2}) {
		t.Fatalf("explicit partitions: %v, %v", top.Partitions[5].Replicas, top.Partitions[6].Replicas)
	}

	// Not enough unfenced brokers left for the topic's RF.
	propose(t, n, raftmeta.SetBrokerFenced{ID: 1, Fenced: true})
	propose(t, n, raftmeta.SetBrokerFenced{ID: 2, Fenced: true})
	wantErrIs(t, "grow RF 2 with one unfenced broker", c.CreatePartitions(ctx, "t", 8, nil, false), ErrInvalidReplicationFactor)
	// Named fenced brokers only: the assignment is refused (Kafka's createPartitions), in a
	// validate-only request too.
	for _, validateOnly := range []bool{true, false} {
		wantErrIs(t, fmt.Sprintf("assignment on fenced brokers only (validate-only %v)", validateOnly),
			c.CreatePartitions(ctx, "t", 8, [][]int32{{1, 2}}, validateOnly), ErrInvalidReplicaAssignment)
	}
	checkTopic(t, n, "t", 7, 2)
}

func TestDeleteTopic(t *testing.T) {
	c, n := newTestController(t, 0)
	ctx := ctxFor(t)
	wantErrIs(t, "delete unknown", c.DeleteTopic(ctx, "t"), raftmeta.ErrUnknownTopic)
	first, err := c.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic(ctx, "t"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	st := n.State()
	if st.Topics["t"] != nil || st.TopicIDs[first.ID] != "" {
		t.Fatal("topic still in the metadata after DeleteTopic")
	}
	if _, ok := st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceTopic, Name: "t"}]; ok {
		t.Fatal("deleted topic's configs kept")
	}
	wantErrIs(t, "delete twice", c.DeleteTopic(ctx, "t"), raftmeta.ErrUnknownTopic)
	wantErrIs(t, "grow a deleted topic", c.CreatePartitions(ctx, "t", 2, nil, false), raftmeta.ErrUnknownTopic)

	// The name is free again, under a new topic id.
	second, err := c.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatalf("recreate: %v", err)
	}
	if second.ID == first.ID {
		t.Fatal("recreated topic reuses the deleted topic's id")
	}
	checkTopic(t, n, "t", 2, 1)
}

func TestAllocateProducerIDsDisjoint(t *testing.T) {
	c, _ := newTestController(t)
	ctx := ctxFor(t)

	type block struct{ first, count int64 }
	var (
		mu     sync.Mutex
		blocks []block
		wg     sync.WaitGroup
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			count := int64(1000 + i)
			first, err := c.AllocateProducerIDs(ctx, count)
			if err != nil {
				t.Errorf("AllocateProducerIDs(%d): %v", count, err)
				return
			}
			mu.Lock()
			blocks = append(blocks, block{first, count})
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.SortFunc(blocks, func(a, b block) int { return int(a.first - b.first) })
	if blocks[0].first != 0 {
		t.Fatalf("first block starts at %d, want 0", blocks[0].first)
	}
	for i := 1; i < len(blocks); i++ {
		if prev := blocks[i-1]; blocks[i].first != prev.first+prev.count {
			t.Fatalf("blocks overlap or leave a hole: %+v", blocks)
		}
	}
	last := blocks[len(blocks)-1]
	next, err := c.AllocateProducerIDs(ctx, 1)
	if err != nil || next != last.first+last.count {
		t.Fatalf("next AllocateProducerIDs = %d, %v; want %d", next, err, last.first+last.count)
	}
	if _, err := c.AllocateProducerIDs(ctx, 0); !errors.Is(err, raftmeta.ErrInvalidCommand) {
		t.Fatalf("AllocateProducerIDs(0) = %v, want ErrInvalidCommand", err)
	}
}
