package log

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLazyDir: a log opened with LazyDir creates no directory to open, take an epoch, close
// and reopen while it holds nothing; its first append creates the directory, after OnCreateDir
// (once) and before the segment file; its records survive a clean close and a crash (no Close);
// a reopened existing directory runs no OnCreateDir.
func TestLazyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	created := 0
	opts := Options{LazyDir: true, OnCreateDir: func(d string) error {
		created++
		if d != dir {
			t.Errorf("OnCreateDir(%q), want %q", d, dir)
		}
		if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
			t.Errorf("OnCreateDir: directory %v (err %v), want it just created and empty", names, err)
		}
		return os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte("id\n"), 0o644)
	}}
	absent := func(step string) {
		t.Helper()
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: directory exists (err %v), want none", step, err)
		}
	}
	open := func() *Log {
		t.Helper()
		l, err := Open(dir, testConfig(), opts)
		must(t, err)
		return l
	}
	l := open()
	must(t, l.AssignEpoch(0, 0))
	must(t, l.Flush())
	absent("open")
	if l.DirCreated() {
		t.Fatal("DirCreated before any write")
	}
	must(t, l.Close())
	absent("close")
	l = open()
	if l.EndOffset() != 0 || l.StartOffset() != 0 {
		t.Fatalf("reopened absent log: start %d end %d, want 0 0", l.StartOffset(), l.EndOffset())
	}
	absent("reopen")
	mustAppend(t, l, simpleBatch(5, 1000), 0)
	if !l.DirCreated() || created != 1 {
		t.Fatalf("after append: DirCreated %v, OnCreateDir ran %d times, want true 1", l.DirCreated(), created)
	}
	mustAppend(t, l, simpleBatch(5, 1000), 0)
	must(t, l.Close())
	if _, err := os.Stat(filepath.Join(dir, "partition.metadata")); err != nil {
		t.Fatal(err)
	}
	l = open() // an existing directory
	if l.EndOffset() != 10 || !l.DirCreated() {
		t.Fatalf("reopened: end %d DirCreated %v, want 10 true", l.EndOffset(), l.DirCreated())
	}
	mustAppend(t, l, simpleBatch(5, 1000), 0)
	must(t, l.Flush())
	// A crash: no Close.
	l2 := open()
	if l2.EndOffset() != 15 || created != 1 {
		t.Fatalf("after a crash: end %d, OnCreateDir ran %d times, want 15 1", l2.EndOffset(), created)
	}
	must(t, l2.Close())
	must(t, l.Close())
}

// TestLazyDirStartOffset: moving an empty lazy log's start offset must persist, so it creates
// the directory; and a lazy log deleted before its directory exists deletes nothing.
func TestLazyDirStartOffset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	opts := Options{LazyDir: true}
	l, err := Open(dir, testConfig(), opts)
	must(t, err)
	must(t, l.TruncateFullyAndStartAt(7))
	must(t, l.Close())
	l, err = Open(dir, testConfig(), opts)
	must(t, err)
	if l.StartOffset() != 7 || l.EndOffset() != 7 {
		t.Fatalf("reopened: start %d end %d, want 7 7", l.StartOffset(), l.EndOffset())
	}
	must(t, l.Delete())
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Delete: %v", err)
	}
	dir2 := filepath.Join(t.TempDir(), "topic-1")
	l, err = Open(dir2, testConfig(), opts)
	must(t, err)
	must(t, l.DeleteTo(dir2+".trash"))
	if _, err := os.Stat(dir2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after DeleteTo: %v", err)
	}
}

// TestLazyDirUncleanPath: a directory named with a trailing separator is still created by the
// first append (lazyDirFS compares cleaned paths).
func TestLazyDirUncleanPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	l, err := Open(dir+string(filepath.Separator), testConfig(), Options{LazyDir: true})
	must(t, err)
	mustAppend(t, l, simpleBatch(3, 1000), 0)
	must(t, l.Close())
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
