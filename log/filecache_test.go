package log

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// TestFileCacheBounded: many logs with many segments share a small cache;
// reads, appends, retention and reopen all work while at most its capacity
// of files stays open once they finish.
func TestFileCacheBounded(t *testing.T) {
	dir := t.TempDir()
	files := NewFileCache(8)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2048
	var logs []*Log
	var want [][]byte
	for i := range 40 {
		l, err := Open(fmt.Sprintf("%s/t-%d", dir, i), cfg, Options{Files: files})
		must(t, err)
		defer l.Close()
		logs = append(logs, l)
		var all []byte
		for j := range 30 {
			b := valueBatch(3, 100, int64(j))
			mustAppend(t, l, b, 0)
			all = append(all, b...)
		}
		want = append(want, all)
		if len(l.segments) < 5 {
			t.Fatalf("%d segments", len(l.segments))
		}
	}
	for _, l := range logs {
		l.flushes.Wait()
	}
	if n := files.Open(); n > 8 {
		t.Fatalf("%d files open, capacity 8", n)
	}
	var wg sync.WaitGroup
	for i, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				b, err := l.Read(0, 1<<20, l.EndOffset())
				if err != nil || !bytes.Equal(b, want[i]) {
					t.Errorf("log %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := files.Open(); n > 8 {
		t.Fatalf("%d files open after reads, capacity 8", n)
	}
	for _, l := range logs {
		must(t, l.Close())
	}
	if n := files.Open(); n != 0 {
		t.Fatalf("%d files open after every log closed", n)
	}
}

// TestFileCacheInUseNotClosed: a file in use is not closed under its user
// even when the cache is over capacity; it closes when released.
func TestFileCacheInUseNotClosed(t *testing.T) {
	mem := NewMemFS()
	must(t, mem.MkdirAll("/d", 0o755))
	c := NewFileCache(1)
	dir := "/d"
	a, b := c.file(mem, &dir, 0, true), c.file(mem, &dir, 1, true)
	fa, err := a.acquire()
	must(t, err)
	fb, err := b.acquire()
	must(t, err)
	if c.Open() != 2 {
		t.Fatalf("%d open", c.Open())
	}
	if _, err := fa.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal("in-use file closed:", err)
	}
	a.release()
	if c.Open() != 1 {
		t.Fatalf("%d open after a release over capacity", c.Open())
	}
	must(t, b.close())
	if _, err := fb.WriteAt([]byte("y"), 0); err != nil {
		t.Fatal("closed under its user:", err)
	}
	b.release()
	if c.Open() != 0 {
		t.Fatalf("%d open", c.Open())
	}
	if _, err := b.acquire(); err == nil {
		t.Fatal("acquired a closed file")
	}
	fa, err = a.acquire() // reopened
	must(t, err)
	buf := make([]byte, 1)
	_, err = fa.ReadAt(buf, 0)
	must(t, err)
	if buf[0] != 'x' {
		t.Fatal("reopened the wrong file")
	}
	a.release()
}
