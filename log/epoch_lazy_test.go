package log

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// renameCounter is OSFS counting the renames onto one file name (writeFileAtomic's last step).
type renameCounter struct {
	FS
	name string
	n    atomic.Int64
}

func (r *renameCounter) Rename(oldpath, newpath string) error {
	if filepath.Base(newpath) == r.name {
		r.n.Add(1)
	}
	return r.FS.Rename(oldpath, newpath)
}

func (r *renameCounter) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	return r.FS.OpenFile(name, flag, perm)
}

func readEpochFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, epochCheckpointFile))
	must(t, err)
	return strings.ReplaceAll(string(b), "\n", "|")
}

// TestEmptyEpochWritesNoCheckpoint: BecomeLeader's entry at the log end (no records in the
// epoch yet) is not written, nor is it after a restart in the same epoch; the first batch in
// the epoch writes it.
func TestEmptyEpochWritesNoCheckpoint(t *testing.T) {
	dir := t.TempDir()
	rc := &renameCounter{FS: OSFS, name: epochCheckpointFile}
	l, err := Open(dir, testConfig(), Options{FS: rc})
	must(t, err)
	must(t, l.AssignEpoch(0, 0))
	mustAppend(t, l, simpleBatch(2, 0), 0)
	if got, want := readEpochFile(t, dir), "0|1|0 0|"; got != want {
		t.Fatalf("checkpoint after the first batch %q, want %q", got, want)
	}
	writes := rc.n.Load()
	must(t, l.AssignEpoch(1, 2))
	must(t, l.Close())
	l, err = Open(dir, testConfig(), Options{FS: rc})
	must(t, err)
	defer l.Close()
	must(t, l.AssignEpoch(1, 2))
	if n := rc.n.Load() - writes; n != 0 {
		t.Fatalf("%d checkpoint writes for an epoch without records, across a restart; want 0", n)
	}
	if e, _ := l.LatestEpoch(); e != 1 {
		t.Fatalf("latest epoch %d, want 1", e)
	}
	mustAppend(t, l, simpleBatch(3, 0), 1)
	if got, want := readEpochFile(t, dir), "0|2|0 0|1 2|"; got != want {
		t.Fatalf("checkpoint after a batch in epoch 1 %q, want %q", got, want)
	}
}

// TestUncleanOpenTakesEpochsFromBatches: were the process to die between a batch in a new
// epoch and the checkpoint that records the epoch, recovery of the unflushed tail takes the
// epoch from the batch, as Kafka's LogSegment.recover does.
func TestUncleanOpenTakesEpochsFromBatches(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	must(t, l.AssignEpoch(0, 0))
	mustAppend(t, l, simpleBatch(2, 0), 0)
	must(t, l.AssignEpoch(3, 2))
	mustAppend(t, l, simpleBatch(3, 0), 3)
	crash(t, l, dir)
	// The checkpoint as it was before the epoch-3 batch.
	must(t, os.WriteFile(filepath.Join(dir, epochCheckpointFile), []byte("0\n1\n0 0\n"), 0o644))
	l = openLog(t, dir, testConfig())
	if got := l.epochs.entries; !slices.Equal(got, entries(0, 0, 3, 2)) {
		t.Fatalf("entries after an unclean open %v, want epoch 3 from 2", got)
	}
	if got, want := readEpochFile(t, dir), "0|2|0 0|3 2|"; got != want {
		t.Fatalf("checkpoint after recovery %q, want %q", got, want)
	}
}

// TestStaleEpochCheckpointWrittenOnGrowth: after a restart dropped an epoch entry at the log
// end, the file keeps it only while the log does not grow past it: an append in an older epoch
// (no epoch change of its own) writes the cache.
func TestStaleEpochCheckpointWrittenOnGrowth(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	mustAppend(t, l, simpleBatch(2, 0), 0)
	mustAppend(t, l, simpleBatch(1, 0), 1)
	must(t, l.Close())
	// A file with an entry at the log end, as an older version wrote on BecomeLeader.
	must(t, os.WriteFile(filepath.Join(dir, epochCheckpointFile), []byte("0\n3\n0 0\n1 2\n2 3\n"), 0o644))
	l = openLog(t, dir, testConfig())
	if got := l.epochs.entries; !slices.Equal(got, entries(0, 0, 1, 2)) {
		t.Fatalf("entries after reopen %v, want the entry at the log end dropped", got)
	}
	if got, want := readEpochFile(t, dir), "0|3|0 0|1 2|2 3|"; got != want {
		t.Fatalf("checkpoint after reopen %q, want it untouched: %q", got, want)
	}
	mustAppend(t, l, simpleBatch(3, 0), 1)
	if got, want := readEpochFile(t, dir), "0|2|0 0|1 2|"; got != want {
		t.Fatalf("checkpoint after an append in epoch 1 %q, want %q", got, want)
	}
	crash(t, l, dir)
	l = openLog(t, dir, testConfig())
	if e, o := l.EndOffsetForEpoch(1); e != 1 || o != 6 {
		t.Fatalf("EndOffsetForEpoch(1) = (%d, %d), want (1, 6)", e, o)
	}
}
