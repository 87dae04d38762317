package minikraft_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// partitionDirs lists the directories named "<topic>-<n>" under root (any depth).
func partitionDirs(t *testing.T, root, topic string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), topic+"-") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIdlePartitionsHaveNoDirectory: creating a topic creates no partition directory on any
// node; a kill -9 and a restart of a node with idle partitions, a Snapshot (no directory in it
// for an idle partition) and a cluster from that snapshot, and a Reset all serve the idle
// partitions as empty ones; the first write creates the directory.
func TestIdlePartitionsHaveNoDirectory(t *testing.T) {
	base := t.TempDir()
	c := minikraft.NewCluster(t, 1, minikraft.WithDir(base))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	if _, err := adm.CreateTopics(ctx, 4, 1, nil, "idle", "busy"); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"idle", "busy"} {
		if err := c.WaitForLeaders(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if d := partitionDirs(t, base, "idle"); len(d) != 0 {
		t.Fatalf("created idle partitions: directories %v, want none", d)
	}
	prod := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "busy", Partition: 0, Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if d := partitionDirs(t, base, "busy"); len(d) == 0 {
		t.Fatal("a written partition has no directory")
	}
	if err := c.KillNode(0); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(0); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"idle", "busy"} {
		if err := c.WaitForLeaders(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if n := endOffsetSum(ctx, t, c.Addrs(), "busy"); n != 1 {
		t.Fatalf("after a kill and restart: busy ends at %d, want 1", n)
	}
	if d := partitionDirs(t, base, "idle"); len(d) != 0 {
		t.Fatalf("after a restart: idle directories %v, want none", d)
	}

	snap := t.TempDir()
	if err := c.Snapshot(snap); err != nil {
		t.Fatal(err)
	}
	if d := partitionDirs(t, snap, "idle"); len(d) != 0 {
		t.Fatalf("snapshot: idle directories %v, want none", d)
	}
	r := minikraft.NewCluster(t, 1, minikraft.FromSnapshot(snap), minikraft.WithDir(t.TempDir()))
	if n := endOffsetSum(ctx, t, r.Addrs(), "busy"); n != 1 {
		t.Fatalf("restored: busy ends at %d, want 1", n)
	}
	rprod := newClientT(t, kgo.SeedBrokers(r.Addrs()...))
	if err := rprod.ProduceSync(ctx, &kgo.Record{Topic: "idle", Partition: 2, Value: []byte("i")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := endOffsetSum(ctx, t, r.Addrs(), "idle"); n != 1 {
		t.Fatalf("restored: idle ends at %d after one write, want 1", n)
	}

	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if d := partitionDirs(t, base, "idle"); len(d) != 0 {
		t.Fatalf("after Reset: idle directories %v, want none", d)
	}
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, "idle"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "idle", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := endOffsetSum(ctx, t, c.Addrs(), "idle"); n != 1 {
		t.Fatalf("after Reset and re-creation: idle ends at %d, want 1", n)
	}
	if d := partitionDirs(t, base, "idle"); len(d) != 1 {
		t.Fatalf("after one write: idle directories %v, want one", d)
	}
}

// endOffsetSum sums topic's partitions' end offsets, asking again while a node is still coming
// up (a restarted or restored node may not lead its partitions yet).
func endOffsetSum(ctx context.Context, t *testing.T, addrs []string, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(addrs...)))
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil && ends.Error() == nil {
			sum := int64(0)
			ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			return sum
		}
		if ctx.Err() != nil {
			t.Fatalf("end offsets of %s: %v %v", topic, err, ends.Error())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
