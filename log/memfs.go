package log

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS that can crash, for deterministic crash and
// torn-write tests (the idea of pebble's vfs.NewCrashableMem). It models
// what a POSIX file system promises:
//
//   - A file's content is durable as of its last Sync (on any handle: the
//     content belongs to the file, not the handle).
//   - A directory entry (a create, rename or remove) is durable once the
//     directory is synced: opened with os.O_RDONLY and Sync called on it.
//   - Directories themselves are durable once created (MkdirAll).
//
// Crash returns what survives a power cut: each directory's last synced
// entries, each file's last synced content (CrashWith can keep part of the
// unsynced writes instead, a torn write), as a new MemFS to reopen on.
//
// SetCapacity makes writes that would grow the total beyond a bound fail
// with ENOSPC, as a full disk does.
type MemFS struct {
	mu       sync.Mutex
	dirs     map[string]*memDir
	capacity int64 // 0: unlimited
	used     int64
	// Now stamps modification times; nil is time.Now.
	Now func() time.Time
}

type memDir struct {
	entries map[string]*memInode // the current namespace
	durable map[string]*memInode // as of the last directory sync
}

type memInode struct {
	data   []byte
	synced []byte // durable content
	mtime  time.Time
}

// NewMemFS returns an empty in-memory file system.
func NewMemFS() *MemFS {
	return &MemFS{dirs: map[string]*memDir{".": newMemDir(), "/": newMemDir()}}
}

func newMemDir() *memDir {
	return &memDir{entries: map[string]*memInode{}, durable: map[string]*memInode{}}
}

// SetCapacity bounds the bytes all files may hold (0: unlimited); a write
// or truncation that would grow beyond it fails with ENOSPC.
func (m *MemFS) SetCapacity(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = n
}

// Crash returns what a power cut would leave: a new MemFS holding each
// directory's last synced entries and each file's last synced content.
// The receiver is untouched, so a Log still open on it cannot disturb the
// crashed copy.
func (m *MemFS) Crash() *MemFS { return m.CrashWith(nil) }

// CrashWith is Crash where keep decides, for each surviving file whose
// content differs from what was synced, what the disk holds (a torn
// write: e.g. the synced bytes plus part of the unsynced tail). keep
// returning nil, or a nil keep, leaves the synced content.
func (m *MemFS) CrashWith(keep func(name string, synced, current []byte) []byte) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &MemFS{dirs: make(map[string]*memDir, len(m.dirs)), capacity: m.capacity, Now: m.Now}
	copies := map[*memInode]*memInode{}
	for path, d := range m.dirs {
		nd := newMemDir()
		c.dirs[path] = nd
		for name, ino := range d.durable {
			cp := copies[ino]
			if cp == nil {
				data := slices.Clone(ino.synced)
				if keep != nil && !slices.Equal(ino.synced, ino.data) {
					if k := keep(filepath.Join(path, name), ino.synced, ino.data); k != nil {
						data = slices.Clone(k)
					}
				}
				cp = &memInode{data: data, synced: slices.Clone(data), mtime: ino.mtime}
				copies[ino] = cp
				c.used += int64(len(data))
			}
			nd.entries[name], nd.durable[name] = cp, cp
		}
	}
	return c
}

// ReadFile returns a file's current content.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(ino.data), nil
}

// WriteFile replaces a file's content (creating it) without syncing.
func (m *MemFS) WriteFile(name string, data []byte) error {
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Close()
}

func (m *MemFS) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func split(name string) (dir, base string) {
	name = filepath.Clean(name)
	return filepath.Dir(name), filepath.Base(name)
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *MemFS) lookup(name string) (*memInode, error) {
	dir, base := split(name)
	d := m.dirs[dir]
	if d == nil || d.entries[base] == nil {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	return d.entries[base], nil
}

// OpenFile opens a file, or a directory for Sync.
func (m *MemFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(name)
	if d := m.dirs[clean]; d != nil {
		return &memFile{fs: m, name: clean, dir: d, readOnly: true}, nil
	}
	dir, base := split(clean)
	d := m.dirs[dir]
	if d == nil {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	ino := d.entries[base]
	switch {
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case ino == nil:
		ino = &memInode{mtime: m.now()}
		d.entries[base] = ino
	case flag&os.O_EXCL != 0 && flag&os.O_CREATE != 0:
		return nil, pathErr("open", name, fs.ErrExist)
	}
	if flag&os.O_TRUNC != 0 {
		m.used -= int64(len(ino.data))
		ino.data = ino.data[:0]
		ino.mtime = m.now()
	}
	return &memFile{fs: m, name: clean, ino: ino, readOnly: flag&(os.O_WRONLY|os.O_RDWR) == 0}, nil
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(name)
	if d := m.dirs[clean]; d != nil {
		if len(d.entries) > 0 || m.hasSubdirs(clean) {
			return pathErr("remove", name, syscall.ENOTEMPTY)
		}
		delete(m.dirs, clean)
		return nil
	}
	dir, base := split(clean)
	d := m.dirs[dir]
	if d == nil || d.entries[base] == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	m.unlink(d, base)
	return nil
}

func (m *MemFS) unlink(d *memDir, base string) {
	ino := d.entries[base]
	delete(d.entries, base)
	if !m.linked(ino) {
		m.used -= int64(len(ino.data))
	}
}

func (m *MemFS) linked(ino *memInode) bool {
	for _, d := range m.dirs {
		for _, i := range d.entries {
			if i == ino {
				return true
			}
		}
	}
	return false
}

func (m *MemFS) hasSubdirs(path string) bool {
	for p := range m.dirs {
		if p != path && filepath.Dir(p) == path {
			return true
		}
	}
	return false
}

// RemoveAll removes path and everything below it; the removal is durable
// at once (tests use it for topic deletion only).
func (m *MemFS) RemoveAll(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(path)
	for p, d := range m.dirs {
		if p == clean || strings.HasPrefix(p, clean+string(filepath.Separator)) {
			for base := range d.entries {
				m.unlink(d, base)
			}
			delete(m.dirs, p)
		}
	}
	if dir, base := split(clean); m.dirs[dir] != nil && m.dirs[dir].entries[base] != nil {
		m.unlink(m.dirs[dir], base)
		delete(m.dirs[dir].durable, base)
	}
	return nil
}

// Rename moves a file, replacing any file at newpath.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob := split(oldpath)
	nd, nb := split(newpath)
	from, to := m.dirs[od], m.dirs[nd]
	if from == nil || from.entries[ob] == nil || to == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	ino := from.entries[ob]
	delete(from.entries, ob)
	if old := to.entries[nb]; old != nil && old != ino {
		to.entries[nb] = ino
		if !m.linked(old) {
			m.used -= int64(len(old.data))
		}
		return nil
	}
	to.entries[nb] = ino
	return nil
}

// ReadDir lists a directory's files and subdirectories, sorted.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(dir)
	d := m.dirs[clean]
	if d == nil {
		return nil, pathErr("open", dir, fs.ErrNotExist)
	}
	var names []string
	for n := range d.entries {
		names = append(names, n)
	}
	for p := range m.dirs {
		if p != clean && filepath.Dir(p) == clean {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll creates a directory and its parents.
func (m *MemFS) MkdirAll(path string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := filepath.Clean(path); m.dirs[p] == nil; p = filepath.Dir(p) {
		m.dirs[p] = newMemDir()
	}
	return nil
}

// Stat describes a file or directory.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(name)
	if m.dirs[clean] != nil {
		return memInfo{name: filepath.Base(clean), dir: true}, nil
	}
	ino, err := m.lookup(clean)
	if err != nil {
		return nil, err
	}
	return memInfo{name: filepath.Base(clean), size: int64(len(ino.data)), mtime: ino.mtime}, nil
}

type memFile struct {
	fs       *MemFS
	name     string
	ino      *memInode // nil for a directory
	dir      *memDir
	readOnly bool
	closed   bool
}

// check reports why the handle cannot be used; the caller holds fs.mu.
func (f *memFile) check(op string) error {
	if f.closed {
		return pathErr(op, f.name, fs.ErrClosed)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if f.ino == nil {
		return 0, pathErr("read", f.name, syscall.EISDIR)
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if f.ino == nil || f.readOnly {
		return 0, pathErr("write", f.name, syscall.EBADF)
	}
	end := off + int64(len(p))
	if err := f.fs.grow(f.ino, end); err != nil {
		return 0, pathErr("write", f.name, err)
	}
	copy(f.ino.data[off:], p)
	f.ino.mtime = f.fs.now()
	return len(p), nil
}

// grow extends ino to size bytes if shorter, within the capacity.
func (m *MemFS) grow(ino *memInode, size int64) error {
	n := size - int64(len(ino.data))
	if n <= 0 {
		return nil
	}
	if m.capacity > 0 && m.used+n > m.capacity {
		return syscall.ENOSPC
	}
	m.used += n
	ino.data = append(ino.data, make([]byte, n)...)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate"); err != nil {
		return err
	}
	if f.ino == nil || f.readOnly {
		return pathErr("truncate", f.name, syscall.EBADF)
	}
	if size < int64(len(f.ino.data)) {
		f.fs.used -= int64(len(f.ino.data)) - size
		f.ino.data = f.ino.data[:size]
	} else if err := f.fs.grow(f.ino, size); err != nil {
		return pathErr("truncate", f.name, err)
	}
	f.ino.mtime = f.fs.now()
	return nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	if f.ino == nil {
		f.dir.durable = make(map[string]*memInode, len(f.dir.entries))
		for n, ino := range f.dir.entries {
			f.dir.durable[n] = ino
		}
		return nil
	}
	f.ino.synced = slices.Clone(f.ino.data)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	if f.ino == nil {
		return memInfo{name: filepath.Base(f.name), dir: true}, nil
	}
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.ino.data)), mtime: f.ino.mtime}, nil
}

type memInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mtime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
