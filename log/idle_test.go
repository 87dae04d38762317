package log

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestIdleLogSyncsNothing: a new partition's log that never holds a batch costs no fsync and no
// file write to create, to close, to reopen after that clean shutdown, and to reopen after an
// unclean one (its only segment is empty: nothing to recover), and leaves no segment, index or
// transaction-state file behind (the segment file is created by the first append); once it
// takes a batch it closes as any log, and its files load without a rebuild.
func TestIdleLogSyncsNothing(t *testing.T) {
	dir := t.TempDir()
	efs := &eventFS{FS: OSFS}
	var logs bytes.Buffer
	open := func() *Log {
		t.Helper()
		l, err := Open(dir, testConfig(), Options{FS: efs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		must(t, err)
		return l
	}
	quiet := func(step string) {
		t.Helper()
		if ev := efs.take(); len(ev) != 0 {
			t.Fatalf("%s: %v, want no sync and no write", step, ev)
		}
	}
	l := open()
	must(t, l.AssignEpoch(0, 0))
	quiet("create")
	must(t, l.Close())
	quiet("first close")
	for _, n := range dirNames(t, dir) {
		if strings.HasSuffix(n, extLog) || strings.HasSuffix(n, extIndex) || strings.HasSuffix(n, extTimeIndex) || n == txnStateFile {
			t.Fatalf("%s written for an empty log (files %v)", n, dirNames(t, dir))
		}
	}
	l = open()
	must(t, l.AssignEpoch(0, 0))
	quiet("clean open")
	must(t, l.Close())
	quiet("close after a clean open")
	must(t, os.Remove(filepath.Join(dir, cleanShutdownFile))) // as after a kill -9
	l = open()
	must(t, l.AssignEpoch(0, 0))
	quiet("open after an unclean shutdown")
	must(t, l.Close())
	quiet("close after an unclean open")

	l = open()
	b := simpleBatch(40, 1000)
	for range 10 {
		mustAppend(t, l, b, 0)
	}
	written := readAll(t, l)
	must(t, l.Close())
	if ev := efs.take(); !slices.Contains(ev, "sync "+segmentBaseName(0)+extLog) {
		t.Fatalf("close of a written log: %v, want the segment synced", ev)
	}
	l = open()
	defer l.Close()
	if l.EndOffset() != 400 {
		t.Fatalf("end %d, want 400", l.EndOffset())
	}
	if !bytes.Equal(readAll(t, l), written) {
		t.Fatal("data differs after a clean restart")
	}
	if strings.Contains(logs.String(), "rebuilding index") {
		t.Fatalf("an index was rebuilt: %s", logs.String())
	}
}

// TestEmptySegmentIgnoresStaleIndexes: index files of an empty segment (left by a truncation or a
// crash) are not read; once the segment holds batches the files are rewritten from scratch, so
// the next clean open loads them without a rebuild and finds every offset.
func TestEmptySegmentIgnoresStaleIndexes(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	opts := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	l, err := Open(dir, testConfig(), opts)
	must(t, err)
	must(t, l.Close())
	// Entries no empty segment can have: offset 5000 at position 4096, and a timestamp.
	stale := bytes.Repeat([]byte{0, 0, 0x13, 0x88, 0, 0, 0x10, 0}, 64)
	must(t, os.WriteFile(segmentName(dir, 0, extIndex), stale, 0o644))
	must(t, os.WriteFile(segmentName(dir, 0, extTimeIndex), bytes.Repeat([]byte{0x7f, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0x13, 0x88}, 64), 0o644))
	must(t, os.Remove(filepath.Join(dir, cleanShutdownFile)))
	l, err = Open(dir, testConfig(), opts)
	must(t, err)
	if l.EndOffset() != 0 {
		t.Fatalf("end %d, want 0", l.EndOffset())
	}
	b := simpleBatch(40, 1000)
	for range 10 {
		mustAppend(t, l, b, 0)
	}
	must(t, l.Close())
	if fi, err := os.Stat(segmentName(dir, 0, extIndex)); err != nil || fi.Size() >= int64(len(stale)) {
		t.Fatalf("offset index not rewritten: %v, %v", fi.Size(), err)
	}
	l, err = Open(dir, testConfig(), opts)
	must(t, err)
	defer l.Close()
	if strings.Contains(logs.String(), "rebuilding index") {
		t.Fatalf("an index was rebuilt: %s", logs.String())
	}
	for off := int64(0); off < 400; off += 37 {
		got, err := l.Read(off, 1, l.EndOffset())
		must(t, err)
		h, err := ParseBatchHeader(got)
		must(t, err)
		if off < h.BaseOffset || off > h.LastOffset() {
			t.Fatalf("read at %d found the batch %d..%d", off, h.BaseOffset, h.LastOffset())
		}
	}
}

// TestTornTailAfterCleanRestartIsCut: a log reopened after a clean shutdown keeps its marker
// until its first change, which removes it durably; a crash then leaves the last batch torn
// above the recovery point, and the next open, an unclean one, cuts it and keeps the whole
// ones, synced or not.
func TestTornTailAfterCleanRestartIsCut(t *testing.T) {
	mem, cfg := NewMemFS(), crashConfig() // 17 small batches fit in one segment
	clock := &fakeClock{ms: 1_700_000_000_000}
	l := memLog(t, mem, "/p", cfg, clock)
	for i := range 5 {
		mustAppend(t, l, simpleBatch(3, int64(i)), 0)
	}
	must(t, l.Close())
	l = memLog(t, mem, "/p", cfg, clock)
	if _, err := mem.ReadFile("/p/" + cleanShutdownFile); err != nil {
		t.Fatalf("marker after a clean open: %v, want it left until the first change", err)
	}
	mem, synced, b1 := crashWithTornTail(t, l, mem, 10, 0)
	if _, err := mem.ReadFile("/p/" + cleanShutdownFile); err == nil {
		t.Fatal("the clean-shutdown marker survived the crash")
	}
	l = memLog(t, mem, "/p", cfg, clock)
	if l.EndOffset() != 47 {
		t.Fatalf("end %d, want 47 (45 synced + the 2 of the whole batch)", l.EndOffset())
	}
	got := readAll(t, l)
	if !bytes.Equal(got[:len(synced)], synced) || !bytes.Equal(got[len(synced):], b1) {
		t.Fatal("recovered data differs")
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
