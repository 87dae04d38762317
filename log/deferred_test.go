package log

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// eventFS is OSFS recording, in order, every Sync ("sync <base name>") and every WriteAt or
// Truncate ("write <base name>") made through it.
type eventFS struct {
	FS
	mu     sync.Mutex
	events []string
}

func (e *eventFS) add(s string) {
	e.mu.Lock()
	e.events = append(e.events, s)
	e.mu.Unlock()
}

func (e *eventFS) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev := e.events
	e.events = nil
	return ev
}

func (e *eventFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := e.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &eventFile{File: f, fs: e, name: filepath.Base(name)}, nil
}

type eventFile struct {
	File
	fs   *eventFS
	name string
}

func (f *eventFile) Sync() error { f.fs.add("sync " + f.name); return f.File.Sync() }
func (f *eventFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.add("write " + f.name)
	return f.File.WriteAt(p, off)
}
func (f *eventFile) Truncate(n int64) error { f.fs.add("write " + f.name); return f.File.Truncate(n) }

// TestCleanOpenDefersMarkerSync: a log opened after a clean shutdown syncs nothing until its
// files change; its first write is preceded by the marker's removal and the directory sync
// that makes it durable; and a log closed without any change leaves the marker, without a sync.
func TestCleanOpenDefersMarkerSync(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	must(t, l.AssignEpoch(0, 0))
	mustAppend(t, l, simpleBatch(3, 0), 0)
	must(t, l.Close())

	efs := &eventFS{FS: OSFS}
	open := func() *Log {
		l, err := Open(dir, testConfig(), Options{FS: efs})
		must(t, err)
		return l
	}
	l = open()
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("marker after a clean Open: %v, want it left until the first change", err)
	}
	must(t, l.AssignEpoch(1, 3)) // BecomeLeader of an idle partition
	if ev := efs.take(); len(ev) != 0 {
		t.Fatalf("a clean Open and a leader change did %v, want nothing", ev)
	}
	must(t, l.Close())
	if ev := efs.take(); len(ev) != 0 {
		t.Fatalf("closing an untouched log did %v, want nothing", ev)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("marker after closing an untouched log: %v", err)
	}

	l = open()
	mustAppend(t, l, simpleBatch(2, 0), 1)
	ev := efs.take()
	if len(ev) == 0 || ev[0] != "sync "+filepath.Base(dir) {
		t.Fatalf("first events after a clean Open and an append: %v, want the directory sync first", ev)
	}
	must(t, l.Close())
	ev = efs.take()
	if len(ev) == 0 || ev[len(ev)-1] != "sync "+filepath.Base(dir) {
		t.Fatalf("closing a written log ended with %v, want the marker's directory sync last", ev)
	}
	l = openLog(t, dir, testConfig())
	if got := l.EndOffset(); got != 5 {
		t.Fatalf("end offset %d after reopening, want 5", got)
	}
	if e, o := l.EndOffsetForEpoch(1); e != 1 || o != 5 {
		t.Fatalf("EndOffsetForEpoch(1) = (%d, %d), want (1, 5)", e, o)
	}
}
