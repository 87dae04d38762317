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

// TestRestartSameEpochWritesNoCheckpoint: a leader that wrote nothing in its epoch has an entry
// at its log end; a restart drops it (the log end decides) and BecomeLeader in the same epoch
// assigns it back. Neither step rewrites leader-epoch-checkpoint, which still holds the entry.
func TestRestartSameEpochWritesNoCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	mustAppend(t, l, simpleBatch(2, 0), 0)
	must(t, l.AssignEpoch(1, 2))
	must(t, l.Close())
	rc := &renameCounter{FS: OSFS, name: epochCheckpointFile}
	l, err := Open(dir, testConfig(), Options{FS: rc})
	must(t, err)
	defer l.Close()
	if got := l.epochs.entries; !slices.Equal(got, entries(0, 0)) {
		t.Fatalf("entries after reopen %v, want the empty epoch dropped", got)
	}
	must(t, l.AssignEpoch(1, 2))
	if n := rc.n.Load(); n != 0 {
		t.Fatalf("%d checkpoint writes for a restart in the same epoch, want 0", n)
	}
	if got, want := readEpochFile(t, dir), "0|2|0 0|1 2|"; got != want {
		t.Fatalf("checkpoint %q, want %q", got, want)
	}
}

// TestStaleEpochCheckpointWrittenOnGrowth: after a restart dropped an empty epoch's entry, the
// file may keep it only while the log does not grow past it: an append in an older epoch (no
// epoch change of its own) writes the cache, so a crash then cannot pair those records with the
// dropped epoch.
func TestStaleEpochCheckpointWrittenOnGrowth(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	mustAppend(t, l, simpleBatch(2, 0), 0)
	must(t, l.AssignEpoch(1, 2))
	crash(t, l, dir)
	l = openLog(t, dir, testConfig())
	if got, want := readEpochFile(t, dir), "0|2|0 0|1 2|"; got != want {
		t.Fatalf("checkpoint after reopen %q, want the dropped entry still there: %q", got, want)
	}
	mustAppend(t, l, simpleBatch(3, 0), 0)
	if got, want := readEpochFile(t, dir), "0|1|0 0|"; got != want {
		t.Fatalf("checkpoint after an append in epoch 0 %q, want %q", got, want)
	}
	crash(t, l, dir)
	l = openLog(t, dir, testConfig())
	if e, o := l.EndOffsetForEpoch(0); e != 0 || o != 5 {
		t.Fatalf("EndOffsetForEpoch(0) = (%d, %d), want (0, 5)", e, o)
	}
}
