package log

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// readTree returns every file under dir by name.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range names {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// linkTree hard-links every file of src into dst (created).
func linkTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for name := range readTree(t, src) {
		if err := os.Link(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			t.Skipf("no hard links here: %v", err)
		}
	}
}

func sameTree(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := readTree(t, dir)
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s changed: %d bytes, were %d", name, len(got[name]), len(b))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s appeared", name)
		}
	}
}

// A log whose files are all links to another log's files writes, truncates, closes and reopens
// through CopyOnWriteFS without changing the other log's files, and reads what it wrote.
func TestCopyOnWriteFSLeavesLinkedLogUnchanged(t *testing.T) {
	if !LinkedFilesSafe {
		t.Skip("link counts unknown on this platform")
	}
	root := t.TempDir()
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
	l, err := Open(src, testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		mustAppend(t, l, valueBatch(3, 100, 1000), 0)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, src)
	linkTree(t, src, dst)

	fsys := CopyOnWriteFS(NoSyncFS(OSFS))
	l2, err := Open(dst, testConfig(), Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(mustRead(t, l2, 0, 1<<20, 60)); got != 20 {
		t.Fatalf("read %d batches of the linked log, want 20", got)
	}
	sameTree(t, src, before) // opening (and removing the marker) changed nothing
	if err := l2.Truncate(30); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l2, valueBatch(2, 100, 2000), 1)
	sameTree(t, src, before)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, before)

	wantEnd(t, dst, Options{FS: fsys}, 32) // the written copy
	wantEnd(t, src, Options{}, 60)         // the original
}

// wantEnd opens the log in dir and fails t unless it ends at end.
func wantEnd(t *testing.T, dir string, opts Options, end int64) {
	t.Helper()
	l, err := Open(dir, testConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.EndOffset(); got != end {
		t.Fatalf("%s ends at %d, want %d", dir, got, end)
	}
}

// The file-level rules: a write or truncation copies the linked file first (a truncation only
// what it keeps), O_TRUNC gives the name a new file, a file with one link is not wrapped.
func TestCopyOnWriteFSFiles(t *testing.T) {
	if !LinkedFilesSafe {
		t.Skip("link counts unknown on this platform")
	}
	dir := t.TempDir()
	orig, link := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(orig, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(orig, link); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	fsys := CopyOnWriteFS(OSFS)

	f, err := fsys.OpenFile(link, os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*cowFile); !ok {
		t.Fatalf("a linked file opened for writing is a %T, want *cowFile", f)
	}
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("xy"), 4); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "0123xy" {
		t.Fatalf("read %q, %v after truncate and write, want 0123xy", buf, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(orig); string(b) != "0123456789" {
		t.Fatalf("the other link reads %q after writes through this one", b)
	}
	if b, _ := os.ReadFile(link); string(b) != "0123xy" {
		t.Fatalf("the written name reads %q, want 0123xy", b)
	}
	if _, err := os.Stat(link + ".cow"); !os.IsNotExist(err) {
		t.Fatalf("the copy's temporary file is left: %v", err)
	}

	// Now b has one link: it is opened as it is.
	f, err = fsys.OpenFile(link, os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*cowFile); ok {
		t.Fatal("a file with one link is wrapped")
	}
	f.Close()

	// A write-only handle (partition.metadata's) copies the file too, then overwrites; an
	// O_TRUNC open gives the name a new file.
	for _, c := range []struct {
		flag int
		want string
	}{{os.O_WRONLY, "ab23456789"}, {os.O_WRONLY | os.O_TRUNC, "ab"}} {
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(orig, link); err != nil {
			t.Fatal(err)
		}
		f, err = fsys.OpenFile(link, c.flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("ab"), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if b, _ := os.ReadFile(orig); string(b) != "0123456789" {
			t.Fatalf("flags %#x: a write through a link changed the other: %q", c.flag, b)
		}
		if b, _ := os.ReadFile(link); string(b) != c.want {
			t.Fatalf("flags %#x: the written name reads %q, want %q", c.flag, b, c.want)
		}
	}
}
