package log

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// NoSyncFS skips only the syncs: a log written through it and dropped without Close (a killed
// node) opens again with every record, and a Sync after Close still fails as File promises.
func TestNoSyncFSKeepsWritesAcrossUncleanReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p-0")
	fsys := NoSyncFS(OSFS)
	l, err := Open(dir, DefaultConfig(), Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustAppend(t, l, simpleBatch(2, 1000), 0)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	end := l.EndOffset()
	// No Close: the next Open finds no clean-shutdown marker and recovers.
	l2, err := Open(dir, DefaultConfig(), Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := l2.EndOffset(); got != end || end == 0 {
		t.Fatalf("end offset after reopen %d, want %d (> 0)", got, end)
	}

	f, err := fsys.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync of an open file: %v", err)
	}
	if _, ok := f.(syscall.Conn); !ok {
		t.Fatal("a NoSyncFS file hides its descriptor from sendfile")
	}
	f.Close()
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Sync after Close: %v, want os.ErrClosed", err)
	}
}
