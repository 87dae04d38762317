package minikraft_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// TestSnapshotRestore: a cluster restored from a snapshot serves the same records (same
// offsets) and the group offsets committed before it, read through franz-go and sarama; a
// snapshot taken while a producer writes holds an unbroken prefix of what it wrote.
func TestSnapshotRestore(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fillTopics(ctx, t, c, "sg", "snap", 30, "s1", "s2")
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	wantOffsets, err := adm.FetchOffsets(ctx, "sg")
	if err != nil || wantOffsets.Error() != nil {
		t.Fatal(err, wantOffsets.Error())
	}
	wantTopics, err := adm.ListTopics(ctx, "s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]*kgo.Record{}
	for _, topic := range []string{"s1", "s2"} {
		want[topic] = readToEnd(ctx, t, c.Addrs(), topic)
	}

	// Load: one producer writes 0, 1, 2... to a one-partition topic during the snapshot.
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "load"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "load"); err != nil {
		t.Fatal(err)
	}
	prod := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("load"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Errorf("produce %d: %v", i, err)
				return
			}
			acked.Store(int64(i + 1))
		}
	}()
	for acked.Load() < 20 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	dir := t.TempDir()
	if err := c.Snapshot(dir); err != nil {
		t.Fatal(err)
	}
	snapFiles := treeDigest(t, dir)
	close(stop)
	wg.Wait()
	written := acked.Load()
	if written < 20 {
		t.Fatalf("only %d records written", written)
	}

	// The restored clusters keep their data on the snapshot's file system (the fixture's default
	// may be /dev/shm), so FromSnapshot links the files and the test sees they stay unchanged.
	r := minikraft.NewCluster(t, 3, minikraft.FromSnapshot(dir), minikraft.WithDir(t.TempDir()))
	radm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(r.Addrs()...)))
	gotTopics, err := radm.ListTopics(ctx, "s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	for name, td := range wantTopics {
		if g := gotTopics[name]; g.ID != td.ID || len(g.Partitions) != len(td.Partitions) {
			t.Errorf("restored %s: id %v, %d partitions; want %v, %d", name, g.ID, len(g.Partitions), td.ID, len(td.Partitions))
		}
	}
	for topic, recs := range want {
		got := readToEnd(ctx, t, r.Addrs(), topic)
		if len(got) != len(recs) {
			t.Fatalf("restored %s holds %d records, want %d", topic, len(got), len(recs))
		}
		key := func(r *kgo.Record) string { return fmt.Sprintf("%d/%d/%s", r.Partition, r.Offset, r.Value) }
		have := map[string]bool{}
		for _, r := range got {
			have[key(r)] = true
		}
		for _, r := range recs {
			if !have[key(r)] {
				t.Errorf("restored %s lacks %s", topic, key(r))
			}
		}
	}
	gotOffsets, err := radm.FetchOffsets(ctx, "sg")
	if err != nil || gotOffsets.Error() != nil {
		t.Fatal(err, gotOffsets.Error())
	}
	wantOffsets.Each(func(o kadm.OffsetResponse) {
		g, ok := gotOffsets.Lookup(o.Topic, o.Partition)
		if !ok || g.At != o.At {
			t.Errorf("restored group sg: %s-%d at %d, want %d", o.Topic, o.Partition, g.At, o.At)
		}
	})

	// The load topic: values 0..n-1 at offsets 0..n-1, an unbroken prefix of what was written.
	load := readToEnd(ctx, t, r.Addrs(), "load")
	for i, rec := range load {
		if rec.Offset != int64(i) || string(rec.Value) != strconv.Itoa(i) {
			t.Fatalf("restored load topic: %q at offset %d, want %d at %d", rec.Value, rec.Offset, i, i)
		}
	}
	if len(load) < 20 || int64(len(load)) > written {
		t.Errorf("restored load topic holds %d records; %d were acknowledged before the snapshot began, %d by its end", len(load), 20, written)
	}
	t.Logf("the snapshot under load holds %d of the %d records written", len(load), written)

	// sarama: the group's committed offsets, and the records.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	sadm, err := sarama.NewClusterAdmin(r.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	so, err := sadm.ListConsumerGroupOffsets("sg", map[string][]int32{"s1": {0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		w, _ := wantOffsets.Lookup("s1", p)
		if b := so.GetBlock("s1", p); b == nil || b.Offset != w.At {
			t.Errorf("sarama: restored group sg at %+v on s1-%d, want %d", b, p, w.At)
		}
	}
	cons, err := sarama.NewConsumer(r.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("s2", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	n := 0
	for _, rec := range want["s2"] {
		if rec.Partition == 0 {
			n++
		}
	}
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if m.Offset != int64(i) || !strings.HasPrefix(string(m.Value), "snap-s2-") {
				t.Fatalf("sarama read %q at offset %d from restored s2-0", m.Value, m.Offset)
			}
		case <-ctx.Done():
			t.Fatalf("sarama read %d of %d records of restored s2-0", i, n)
		}
	}

	// The restored cluster writes on: more records and a moved group, then a node is killed and
	// a Reset restarts it (the Reset empties __consumer_offsets in place and names a new topic
	// id in its partition.metadata). The snapshot is not changed by it, though the nodes'
	// replicas began as hard links to its files: not one byte, and a second restore finds what
	// the first did.
	fillTopics(ctx, t, r, "sg", "later", 5, "load2")
	rprod := newClientT(t, kgo.SeedBrokers(r.Addrs()...), kgo.DefaultProduceTopic("load"))
	for i := range 5 {
		if err := rprod.ProduceSync(ctx, &kgo.Record{Value: []byte("later-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A killed node recovers its logs at restart (Reset restarts it): recovery's truncations
	// and index rebuilds must not reach the snapshot either.
	if err := r.KillNode(1); err != nil {
		t.Fatal(err)
	}
	if err := r.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()
	after := treeDigest(t, dir)
	for name, sum := range snapFiles {
		if after[name] != sum {
			t.Errorf("snapshot file %s changed after a restored cluster wrote and reset", name)
		}
	}
	if len(after) != len(snapFiles) {
		t.Errorf("snapshot holds %d files after a restored cluster ran, %d before", len(after), len(snapFiles))
	}
	r2 := minikraft.NewCluster(t, 3, minikraft.FromSnapshot(dir), minikraft.WithDir(t.TempDir()))
	if again := readToEnd(ctx, t, r2.Addrs(), "load"); len(again) != len(load) {
		t.Errorf("a second restore holds %d records of the load topic, the first %d: the snapshot changed", len(again), len(load))
	}
	r2adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(r2.Addrs()...)))
	if ts, err := r2adm.ListTopics(ctx, "load2"); err != nil || ts.Has("load2") {
		t.Errorf("a second restore has load2, created after the snapshot (%v)", err)
	}
}

// treeDigest maps every file under dir (by its path inside dir) to a digest of its contents.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFromSnapshotNodeCount: a snapshot starts only a cluster of its own size.
func TestFromSnapshotNodeCount(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	dir := t.TempDir()
	if err := c.Snapshot(dir); err != nil {
		t.Fatal(err)
	}
	r, err := minikraft.StartCluster(3, minikraft.FromSnapshot(dir), minikraft.Quiet())
	if err == nil {
		r.Close()
		t.Fatal("a 1-node snapshot started a 3-node cluster")
	}
	if !strings.Contains(err.Error(), "1-node") {
		t.Errorf("error %q does not say the snapshot's node count", err)
	}
	if _, err := minikraft.StartCluster(1, minikraft.FromSnapshot(t.TempDir()), minikraft.Quiet()); err == nil {
		t.Error("an empty directory started as a snapshot")
	}
}
