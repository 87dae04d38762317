package replica

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// oneReplica is metadata with topic t (id) of one partition, led by node 1 alone.
func oneReplica(id byte) *raftmeta.State {
	tid := [16]byte{id}
	return &raftmeta.State{
		Brokers: map[int32]*raftmeta.Broker{},
		Topics: map[string]*raftmeta.Topic{"t": {Name: "t", ID: tid, Partitions: []*raftmeta.Partition{
			{ID: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		}}},
		TopicIDs: map[[16]byte]string{tid: "t"},
		Configs:  map[raftmeta.ConfigResource]map[string]string{},
	}
}

// A replica's directory is kept across restarts while partition.metadata names the same topic
// id, and removed when the topic was deleted and re-created under the same name while this node
// was away, so the new topic never serves the old one's records.
func TestApplyRemovesStaleReplicaOfEarlierTopic(t *testing.T) {
	dir := t.TempDir()
	open := func(st *raftmeta.State) (*Manager, int64) {
		m := New(context.Background(), Config{DataDir: dir})
		m.cfg.Broker.NodeID = 1
		m.Apply(st)
		p, _, err := m.Leader("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		return m, p.LogEndOffset()
	}
	m, _ := open(oneReplica(1))
	p, _, _ := m.Leader("t", 0)
	for range 3 {
		produce(t, p, []log.KeyValue{{Value: []byte("old")}}, time.Now().UnixMilli())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, end := open(oneReplica(1))
	if end != 3 {
		t.Fatalf("reopened under the same topic id: log end %d, want 3", end)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, end = open(oneReplica(2))
	defer m.Close()
	if end != 0 {
		t.Fatalf("opened for a new topic of the same name: log end %d, want the old records gone", end)
	}
	// The old directory is gone; the new replica, idle, has none yet (log.Options.LazyDir).
	if _, err := os.Stat(filepath.Join(dir, "t-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old topic's directory: %v, want it removed", err)
	}
	p, _, _ = m.Leader("t", 0)
	produce(t, p, []log.KeyValue{{Value: []byte("new")}}, time.Now().UnixMilli())
	id, err := readTopicID(filepath.Join(dir, "t-0", "partition.metadata"))
	if err != nil || id != "AgAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("partition.metadata topic id %q (%v), want the new topic's", id, err)
	}
}

// A deleted topic's replica refuses requests at once; its directory is renamed out of the way
// by the trash goroutine, or at once when a topic re-created under the name opens it (settle),
// and removed in the background; a trash directory left by an earlier run is removed at the
// next start.
func TestApplyDeletesThroughTrash(t *testing.T) {
	dir := t.TempDir()
	leftover := filepath.Join(dir, "old-0.0123456789abcdef-delete")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	m := New(context.Background(), Config{DataDir: dir})
	m.cfg.Broker.NodeID = 1
	m.Run()
	defer m.Close()
	m.Apply(oneReplica(1))
	p, _, err := m.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, p, []log.KeyValue{{Value: []byte("old")}}, time.Now().UnixMilli())
	empty := oneReplica(1)
	empty.Topics, empty.TopicIDs = map[string]*raftmeta.Topic{}, map[[16]byte]string{}
	m.Apply(empty)
	if p.IsLeader() {
		t.Fatal("the deleted replica still serves as leader")
	}
	// Re-created at once: the old replica may still hold t-0 (settle moves it first).
	m.Apply(oneReplica(2))
	p, _, err = m.Leader("t", 0)
	if err != nil || p.LogEndOffset() != 0 {
		t.Fatalf("re-created t-0: %v; want an empty replica", err)
	}
	produce(t, p, []log.KeyValue{{Value: []byte("new")}}, time.Now().UnixMilli())
	// Deleted again, and left to the trash goroutine: t-0 goes away by itself.
	empty.Index = 3
	m.Apply(empty)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "t-0")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("t-0 is still there 30 s after the deletion")
		}
		time.Sleep(time.Millisecond)
	}
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var trash []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), trashSuffix) {
				trash = append(trash, e.Name())
			}
		}
		if len(trash) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trash not removed: %v", trash)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A topic deleted and re-created under its name in one State that keeps the replica on this node
// (the internal topics at the fixture's Reset) is emptied in place: the old replica refuses
// requests, the new one starts at offset 0 with no producer state in the same directory, which
// names the new topic id, and no trash directory is made. It survives a restart as the new
// topic's.
func TestApplyRecyclesReplicaOfReplacedTopic(t *testing.T) {
	dir := t.TempDir()
	m := New(context.Background(), Config{DataDir: dir})
	m.cfg.Broker.NodeID = 1
	m.Run()
	m.Apply(oneReplica(1))
	old, _, err := m.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		produce(t, old, []log.KeyValue{{Value: []byte("old")}}, time.Now().UnixMilli())
	}
	st := oneReplica(2)
	st.Index = 2
	st.Topics["t"].Partitions[0].LeaderEpoch = 1
	st.Topics["t"].Partitions[0].PartitionEpoch = 1
	m.Apply(st)
	p, _, err := m.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p == old {
		t.Fatal("the re-created topic kept the old partition")
	}
	if _, err := old.AppendAsLeader(log.EncodeBatch([]log.KeyValue{{Value: []byte("late")}}, 0), nil, 1); !errors.Is(err, partition.ErrClosed) {
		t.Fatalf("append to the old replica: %v, want ErrClosed", err)
	}
	if p.LogStartOffset() != 0 || p.LogEndOffset() != 0 || p.HighWatermark() != 0 {
		t.Fatalf("recycled replica: start %d end %d hw %d, want all 0", p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark())
	}
	if p.Log().Dir() != filepath.Join(dir, "t-0") {
		t.Fatalf("recycled replica in %s", p.Log().Dir())
	}
	produce(t, p, []log.KeyValue{{Value: []byte("new")}}, time.Now().UnixMilli())
	if p.LogEndOffset() != 1 {
		t.Fatalf("log end %d after one record, want 1", p.LogEndOffset())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), trashSuffix) {
			t.Fatalf("a recycled replica went to the trash: %s", e.Name())
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	id, err := readTopicID(filepath.Join(dir, "t-0", "partition.metadata"))
	if err != nil || id != "AgAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("partition.metadata topic id %q (%v), want the new topic's", id, err)
	}
	m = New(context.Background(), Config{DataDir: dir})
	m.cfg.Broker.NodeID = 1
	defer m.Close()
	m.Apply(st)
	p, _, err = m.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 1 {
		t.Fatalf("reopened: log end %d, want the new topic's one record", p.LogEndOffset())
	}
}
