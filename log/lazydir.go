package log

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// lazyDirFS creates a log's directory with the first file written in it (Options.LazyDir),
// so that a partition which never holds anything costs no inode: creating ten thousand idle
// partitions is then free of the file system's per-directory cost. Until the directory exists,
// the log is empty at offset 0 with no leader epochs, which is what Open makes of an absent
// directory, so nothing is lost if a crash or Close comes first. Opening for reading and
// listing go straight through (an absent file reads as absent, as in an empty directory).
type lazyDirFS struct {
	FS
	dir      *string                // the log's (Log.dir, clean): not a copy of the string header, so that the struct fits 64 bytes
	onCreate func(dir string) error // Options.OnCreateDir: run once, after the mkdir and before the first file

	mu      sync.Mutex
	created atomic.Bool
	err     error // a failed creation, kept so every later write reports it
}

// ensure creates the directory and runs onCreate, once.
func (z *lazyDirFS) ensure() error {
	if z.created.Load() {
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.created.Load() {
		return nil
	}
	if z.err != nil {
		return z.err
	}
	err := z.FS.MkdirAll(*z.dir, 0o755)
	if err == nil && z.onCreate != nil {
		err = z.onCreate(*z.dir)
	}
	if err != nil {
		z.err = err
		return err
	}
	z.created.Store(true)
	return nil
}

// inside reports that name is in the log's directory (or is it).
func (z *lazyDirFS) inside(name string) bool {
	return name == *z.dir || filepath.Dir(name) == *z.dir
}

func (z *lazyDirFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE) != 0 && z.inside(name) {
		if err := z.ensure(); err != nil {
			return nil, err
		}
	}
	if name == *z.dir && !z.created.Load() {
		// A directory sync (syncDir) of a directory not yet created: there is
		// nothing in it to make durable.
		if _, err := z.FS.Stat(name); errors.Is(err, fs.ErrNotExist) {
			return absentDir{}, nil
		}
	}
	return z.FS.OpenFile(name, flag, perm)
}

func (z *lazyDirFS) Rename(oldpath, newpath string) error {
	if z.inside(newpath) && newpath != *z.dir {
		if err := z.ensure(); err != nil {
			return err
		}
	}
	return z.FS.Rename(oldpath, newpath)
}

// absentDir is the handle syncDir gets for a directory that does not exist yet.
type absentDir struct{}

func (absentDir) ReadAt([]byte, int64) (int, error)  { return 0, fs.ErrInvalid }
func (absentDir) WriteAt([]byte, int64) (int, error) { return 0, fs.ErrInvalid }
func (absentDir) Truncate(int64) error               { return fs.ErrInvalid }
func (absentDir) Sync() error                        { return nil }
func (absentDir) Close() error                       { return nil }
func (absentDir) Stat() (fs.FileInfo, error)         { return nil, fs.ErrNotExist }

// DirCreated reports that the log's directory exists: always, unless the log was opened with
// Options.LazyDir and nothing has been written to it yet.
func (l *Log) DirCreated() bool {
	return l.lazy == nil || l.lazy.created.Load()
}

// SetOnCreateDir replaces Options.OnCreateDir while the directory is not created yet, and
// reports whether it did; a log whose directory exists is left as it is (false), and the caller
// writes what fn would have. A recycled replica (a Reset) names its new topic this way.
func (l *Log) SetOnCreateDir(fn func(dir string) error) bool {
	if l.lazy == nil {
		return false
	}
	l.lazy.mu.Lock()
	defer l.lazy.mu.Unlock()
	if l.lazy.created.Load() {
		return false
	}
	l.lazy.onCreate = fn
	return true
}
