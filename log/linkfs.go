package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// CopyOnWriteFS is fsys for logs whose files may be hard links shared with another directory:
// the test fixture's FromSnapshot seeds a node's replicas by linking the snapshot's files (a
// link costs a directory entry; a copy creates a file and writes it, which on a virtual disk is
// most of a restore), and the snapshot must never change when a cluster started from it
// writes. The log writes its files in place (appends, index entries, truncations), so a file
// it opens for writing that has more than one link is copied first, on the first write or
// truncation through the handle, not at open: a copy of the bytes to "<name>.cow", renamed over
// the name, after which the handle reads and writes the copy, which is the log's alone. A
// truncation copies only what it keeps. An open with O_TRUNC of a linked file removes the name
// first, so the new content goes to a new file. Files opened read-only, renamed or removed are
// never copied (those change directory entries, not the shared file). A file with one link
// costs one fstat per open for writing.
//
// Where the link count is not known (LinkedFilesSafe is false), no file is copied: do not link
// a log's files there.
func CopyOnWriteFS(fsys FS) FS { return cowFS{fsys} }

// LinkedFilesSafe reports that CopyOnWriteFS knows a file's link count on this platform, so a
// log opened through it may have hard-linked segment and index files.
const LinkedFilesSafe = linkCountKnown

type cowFS struct{ FS }

func (c cowFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return c.FS.OpenFile(name, flag, perm)
	}
	if flag&os.O_TRUNC != 0 {
		// The old content goes: give the name a new file instead of emptying a shared one.
		if fi, err := c.FS.Stat(name); err == nil && linkCount(fi) > 1 {
			if err := c.FS.Remove(name); err != nil {
				return nil, err
			}
			flag |= os.O_CREATE
		}
		return c.FS.OpenFile(name, flag, perm)
	}
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if linkCount(fi) <= 1 {
		return f, nil
	}
	cf := &cowFile{fsys: c.FS, name: name, perm: perm, shared: f}
	cf.cur.Store(&fileRef{f})
	cf.linked.Store(true)
	return cf, nil
}

// fileRef boxes a File for an atomic.Pointer.
type fileRef struct{ File }

// cowFile is a writable handle on a file that had other links when it was opened. Reads go to
// the current file (the shared one until the first write, then the copy); the shared handle
// stays open until Close, so a read that loaded it before the switch still reads the same
// bytes (the copy starts with all of them).
type cowFile struct {
	fsys   FS
	name   string
	perm   fs.FileMode
	shared File // the linked file as opened; never written
	cur    atomic.Pointer[fileRef]
	linked atomic.Bool // cur is still shared
	mu     sync.Mutex  // serialises the copy
}

func (f *cowFile) file() File { return f.cur.Load().File }

func (f *cowFile) ReadAt(p []byte, off int64) (int, error) { return f.file().ReadAt(p, off) }
func (f *cowFile) Sync() error                             { return f.file().Sync() }
func (f *cowFile) Stat() (fs.FileInfo, error)              { return f.file().Stat() }

func (f *cowFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.own(-1); err != nil {
		return 0, err
	}
	return f.file().WriteAt(p, off)
}

func (f *cowFile) Truncate(size int64) error {
	if err := f.own(size); err != nil {
		return err
	}
	return f.file().Truncate(size)
}

func (f *cowFile) Close() error {
	err := f.shared.Close()
	if c := f.file(); c != f.shared {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// SyscallConn passes the current file's descriptor on, for sendfile (recordset.go).
func (f *cowFile) SyscallConn() (syscall.RawConn, error) {
	if c, ok := f.file().(syscall.Conn); ok {
		return c.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// own gives the handle a file of its own before its first change: a copy of the shared file's
// first keep bytes (all of them if keep < 0) renamed over the name. The name must still be the
// shared file (the log writes only files it has not renamed); if it is not, nothing is
// written.
func (f *cowFile) own(keep int64) error {
	if !f.linked.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.linked.Load() {
		return nil
	}
	sfi, err := f.shared.Stat()
	if err != nil {
		return err
	}
	// Read the bytes through a new handle (the shared one may be write-only), which must be
	// the same file.
	src, err := f.fsys.OpenFile(f.name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil || !os.SameFile(fi, sfi) {
		return fmt.Errorf("log: %s is no longer the linked file it opened; not writing it", f.name)
	}
	size := sfi.Size()
	if keep >= 0 && keep < size {
		size = keep
	}
	tmp := f.name + ".cow"
	c, err := f.fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, f.perm|0o600)
	if err != nil {
		return err
	}
	err = copyPrefix(c, src, size)
	if err == nil {
		err = c.Sync()
	}
	if err == nil {
		err = f.fsys.Rename(tmp, f.name)
	}
	if err == nil {
		err = syncDir(f.fsys, filepath.Dir(f.name))
	}
	if err != nil {
		c.Close()
		_ = f.fsys.Remove(tmp)
		return err
	}
	f.cur.Store(&fileRef{c})
	f.linked.Store(false)
	return nil
}

// copyPrefix copies src's first n bytes to the start of dst.
func copyPrefix(dst, src File, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for off := int64(0); off < n; {
		m, err := src.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
		if m > 0 {
			if _, werr := dst.WriteAt(buf[:m], off); werr != nil {
				return werr
			}
			off += int64(m)
		}
		if err == io.EOF && off < n {
			return fmt.Errorf("log: %d of %d bytes to copy: %w", off, n, io.ErrUnexpectedEOF)
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
