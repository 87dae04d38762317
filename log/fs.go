package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// File is the part of an open file the log uses. Every access is positional
// (ReadAt/WriteAt), so one File can serve concurrent readers while the single
// writer appends beyond what readers are allowed to see, and so a crashable
// in-memory implementation only has to model positional writes and Sync.
// Sync may run concurrently with the other methods (the background flush of
// rolled segments), including Close, after which it must return an error.
type File interface {
	ReadAt(p []byte, off int64) (n int, err error)
	WriteAt(p []byte, off int64) (n int, err error)
	Truncate(size int64) error
	Sync() error
	Close() error
	Stat() (fs.FileInfo, error)
}

// FS is the file-system seam. The log never touches the os package except
// through OSFS, so tests can substitute a file system that loses unsynced
// writes on a simulated crash.
//
// Directories are synced by opening them with os.O_RDONLY and calling Sync
// on the result; an implementation that models durable directory entries
// should honour that.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	// ReadDir returns the names of the entries in dir, sorted.
	ReadDir(dir string) ([]string, error)
	MkdirAll(path string, perm fs.FileMode) error
	Stat(name string) (fs.FileInfo, error)
}

// OSFS is the real file system.
var OSFS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a typed nil *os.File must not become a non-nil File
	}
	return f, nil
}
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

// syncDir makes renames, creations and removals in dir durable.
func syncDir(fsys FS, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic replaces dir/name with data so that a crash leaves either
// the old or the new content, never a mix: write a temporary file, sync it,
// rename it over the target, sync the directory (what Kafka's CheckpointFile
// does).
func writeFileAtomic(fsys FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	return syncDir(fsys, dir)
}

// writeMarker creates dir/name empty and syncs the directory: a marker's
// presence is all it says, so its (empty) contents need no fsync and no
// temporary file, one fsync instead of writeFileAtomic's two. Everything
// the marker vouches for must be synced before.
func writeMarker(fsys FS, dir, name string) error {
	if err := createEmpty(fsys, dir, name); err != nil {
		return err
	}
	return syncDir(fsys, dir)
}

// removeIfExists removes name, if it is there, without any sync, and
// reports whether it was.
func removeIfExists(fsys FS, name string) (bool, error) {
	err := fsys.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// createEmpty creates (or empties) dir/name, without any sync.
func createEmpty(fsys FS, dir, name string) error {
	f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// readFile reads a whole (small) file. The size comes from Stat, i.e. from
// bytes that exist, so a corrupt file cannot make us allocate more than it
// holds; limit caps it further.
func readFile(fsys FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, errTooBig
	}
	buf := make([]byte, fi.Size())
	if err := readFull(f, buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

var errTooBig = errors.New("log: file larger than expected")

// readFull is ReadAt that treats a short read as io.ErrUnexpectedEOF, even
// when the implementation reports io.EOF together with a full read.
func readFull(f File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// NoSyncFS wraps fsys so that nothing is ever synced: a file's Sync, and so
// a directory's (syncDir), returns at once, and every other call goes to
// fsys. What is written still reaches the page cache, so a process that
// dies (or is killed, or a log that is closed without a flush) loses
// nothing: the next Open in any process reads it all. Only a machine crash
// or power loss can lose the unsynced tail, and then Open's recovery cuts
// the logs back to what the disk holds, as after any unclean shutdown; what
// was acknowledged may be gone.
//
// It is for the in-process test fixture, whose clusters live as long as a
// test and simulate crashes by killing nodes, never the machine: on a
// virtual disk one fsync costs a millisecond or more, and creating or
// deleting a partition takes several (its directory, checkpoints and
// segment files). A broker serving real data never uses it.
func NoSyncFS(fsys FS) FS { return noSyncFS{fsys} }

type noSyncFS struct{ FS }

func (n noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &noSyncFile{File: f}, nil
}

// noSyncFile is a File whose Sync does nothing but keeps the contract that
// Sync after Close fails.
type noSyncFile struct {
	File
	closed atomic.Bool
}

func (f *noSyncFile) Sync() error {
	if f.closed.Load() {
		return os.ErrClosed
	}
	return nil
}

func (f *noSyncFile) Close() error {
	f.closed.Store(true)
	return f.File.Close()
}

// SyscallConn passes the file's descriptor on, so that a fetch from a
// fixture's log is still sent with sendfile (recordset.go).
func (f *noSyncFile) SyscallConn() (syscall.RawConn, error) {
	if c, ok := f.File.(syscall.Conn); ok {
		return c.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// deferredDirSync is the FS of a log opened after a clean shutdown: Open
// leaves the clean-shutdown marker in place, and the first change to the
// log's files (a write, truncation, creation, rename or removal through
// this FS) first removes it and syncs the directory. Until then the marker
// is true (nothing has changed since the clean Close that wrote it), so a
// crash may leave it. A restart of a node with thousands of idle partitions
// so costs no fsync and no file system change per partition, and closing
// an untouched log costs nothing either (see Close).
type deferredDirSync struct {
	FS
	dir  string
	mu   sync.Mutex
	done atomic.Bool
}

// settle removes the marker, durably, once.
func (d *deferredDirSync) settle() error {
	if d.done.Load() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done.Load() {
		return nil
	}
	if _, err := removeIfExists(d.FS, filepath.Join(d.dir, cleanShutdownFile)); err != nil {
		return fmt.Errorf("log: remove clean-shutdown marker: %w", err)
	}
	if err := syncDir(d.FS, d.dir); err != nil {
		return err
	}
	d.done.Store(true)
	return nil
}

func (d *deferredDirSync) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		if err := d.settle(); err != nil {
			return nil, err
		}
	}
	f, err := d.FS.OpenFile(name, flag, perm)
	if err != nil || flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return f, err
	}
	return &deferredFile{File: f, d: d}, nil
}

func (d *deferredDirSync) Remove(name string) error {
	if err := d.settle(); err != nil {
		return err
	}
	return d.FS.Remove(name)
}

func (d *deferredDirSync) RemoveAll(path string) error {
	if err := d.settle(); err != nil {
		return err
	}
	return d.FS.RemoveAll(path)
}

func (d *deferredDirSync) Rename(oldpath, newpath string) error {
	if err := d.settle(); err != nil {
		return err
	}
	return d.FS.Rename(oldpath, newpath)
}

// deferredFile is a writable file of a deferredDirSync log.
type deferredFile struct {
	File
	d *deferredDirSync
}

func (f *deferredFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.d.settle(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *deferredFile) Truncate(size int64) error {
	if err := f.d.settle(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// SyscallConn passes the file's descriptor on, for sendfile (recordset.go).
func (f *deferredFile) SyscallConn() (syscall.RawConn, error) {
	if c, ok := f.File.(syscall.Conn); ok {
		return c.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
