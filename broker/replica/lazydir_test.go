package replica

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// TestIdleReplicaHasNoDirectory: a new replica creates no directory; it opens empty again after
// a clean stop and after a kill (no Close); its first append creates the directory with the
// partition.metadata that names the topic id; and an idle replica of a re-created topic
// (recycled, as in a Reset) names the new topic's id once it is written.
func TestIdleReplicaHasNoDirectory(t *testing.T) {
	dir := t.TempDir()
	partDir := filepath.Join(dir, "t-0")
	open := func(st *raftmeta.State) *Manager {
		t.Helper()
		m := New(context.Background(), Config{DataDir: dir})
		m.cfg.Broker.NodeID = 1
		m.Run()
		m.Apply(st)
		p, _, err := m.Leader("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.LogEndOffset() != 0 {
			t.Fatalf("idle replica: log end %d, want 0", p.LogEndOffset())
		}
		return m
	}
	absent := func(step string) {
		t.Helper()
		if _, err := os.Stat(partDir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: %s exists (err %v), want no directory", step, partDir, err)
		}
	}
	m := open(oneReplica(1))
	absent("create")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	absent("clean stop")
	_ = open(oneReplica(1)) // killed: never closed
	absent("open after a clean stop")
	m = open(oneReplica(1))
	absent("open after a kill")

	// Re-created under the same name while idle: recycled, and still no directory.
	st := oneReplica(2)
	st.Index = 2
	st.Topics["t"].Partitions[0].LeaderEpoch = 1
	st.Topics["t"].Partitions[0].PartitionEpoch = 1
	m.Apply(st)
	absent("recycled")
	p, _, err := m.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, p, []log.KeyValue{{Value: []byte("new")}}, time.Now().UnixMilli())
	id, err := readTopicID(filepath.Join(partDir, "partition.metadata"))
	if err != nil || id != "AgAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("after the first append: partition.metadata topic id %q (%v), want the new topic's", id, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The old topic id must not open the new topic's records.
	m = New(context.Background(), Config{DataDir: dir})
	m.cfg.Broker.NodeID = 1
	defer m.Close()
	m.Apply(oneReplica(3))
	p, _, err = m.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("a third topic of the name: log end %d, want 0 (the stale directory removed)", p.LogEndOffset())
	}
	absent("stale directory removed")
}
