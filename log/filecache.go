package log

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// DefaultMaxOpenFiles is the capacity of the file cache shared by logs
// opened without Options.Files.
const DefaultMaxOpenFiles = 1000

var (
	defaultFilesOnce sync.Once
	defaultFiles     *FileCache
)

func sharedFileCache() *FileCache {
	defaultFilesOnce.Do(func() { defaultFiles = NewFileCache(DefaultMaxOpenFiles) })
	return defaultFiles
}

// FileCache bounds the segment files a process keeps open, so thousands of
// partitions do not exhaust file descriptors: a sealed segment's file is
// opened when a read, flush or clean needs it and closed again once it has
// been the least recently used idle file while more than the capacity are
// open. Files in use are never closed under their user (each use, and each
// file range of an outstanding Records, holds a reference), so the
// capacity is a target that in-flight reads and fetches may exceed
// briefly. The active segment is opened like any other, per append.
//
// Index files are not kept open at all: they live in memory and are
// written, and the active segment's dropped blocks read back, with a
// short-lived handle (see segment.persistIndexes and spill.go).
type FileCache struct {
	mu   sync.Mutex
	max  int
	open int
	idle cachedFile // sentinel of the idle list: files with refs == 0 and an open file; idle.next is the least recently used

	// The file ranges of outstanding Records (a few per fetch in flight),
	// so that a truncation of a file, by whichever Log has it open now,
	// finds by name those it would cut and copies them into memory first
	// (see preservePinned).
	pinMu sync.Mutex
	pins  map[*filePin]struct{}
}

// NewFileCache returns a cache that aims to keep at most n files open (at
// least 1).
func NewFileCache(n int) *FileCache {
	c := &FileCache{max: max(n, 1)}
	c.idle.prev, c.idle.next = &c.idle, &c.idle
	return c
}

// Open reports how many files the cache holds open.
func (c *FileCache) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// cachedFile is one segment's .log file as seen through the cache. Its name
// is fixed: a renamed segment (retention, cleaning) is dropped from the log
// before the rename, and a handle already open keeps working after it.
type cachedFile struct {
	cache *FileCache
	fs    FS
	// The name is dir/<base>.log, made when needed rather than kept: ten thousand idle
	// partitions would hold ten thousand copies of their directories' names (issue 18). dir
	// points at the log's (Log.dir), which never changes once the log is open.
	dir  *string
	base int64

	// guarded by cache.mu
	f          File
	prev, next *cachedFile // in cache.idle when refs == 0 and f != nil
	// refs, flags and gone share a word: a cachedFile fits 96 bytes (issue 18).
	refs  int32
	flags int32 // for the first open (O_CREATE|O_TRUNC for a new segment)
	gone  bool  // closed for good: close when the last reference goes

	// sentEnd is the furthest file position sendfile has sent from (see
	// cutFile).
	sentEnd atomic.Int64
}

func (cf *cachedFile) noteSent(end int64) {
	for {
		v := cf.sentEnd.Load()
		if end <= v || cf.sentEnd.CompareAndSwap(v, end) {
			return
		}
	}
}

func (c *FileCache) pushIdle(cf *cachedFile) {
	cf.prev, cf.next = c.idle.prev, &c.idle
	c.idle.prev.next = cf
	c.idle.prev = cf
}

func (cf *cachedFile) unlinkIdle() {
	if cf.next != nil {
		cf.prev.next, cf.next.prev = cf.next, cf.prev
		cf.prev, cf.next = nil, nil
	}
}

func (c *FileCache) file(fsys FS, dir *string, base int64, create bool) *cachedFile {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE | os.O_TRUNC
	}
	return &cachedFile{cache: c, fs: fsys, dir: dir, base: base, flags: int32(flags)}
}

// name is the file's name.
func (cf *cachedFile) name() string { return segmentName(*cf.dir, cf.base, extLog) }

// stem is the name without its extension: that of the segment's index files, with theirs.
func (cf *cachedFile) stem() string { return segmentName(*cf.dir, cf.base, "") }

// sameName reports whether cf and o name the same file.
func (cf *cachedFile) sameName(o *cachedFile) bool { return cf.base == o.base && *cf.dir == *o.dir }

// unborn reports that the file was to be created and has not been opened
// yet, so it does not exist (a new log's first segment, created by its
// first use).
func (cf *cachedFile) unborn() bool {
	cf.cache.mu.Lock()
	defer cf.cache.mu.Unlock()
	return cf.f == nil && cf.flags&int32(os.O_CREATE) != 0
}

// acquire returns the open file, opening it if needed, and holds a
// reference until release.
func (cf *cachedFile) acquire() (File, error) {
	c := cf.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if cf.gone {
		return nil, fmt.Errorf("%w: segment file %s", ErrClosed, cf.name())
	}
	if cf.f == nil {
		f, err := cf.fs.OpenFile(cf.name(), int(cf.flags), 0o644)
		if err != nil {
			return nil, err
		}
		cf.flags = int32(os.O_RDWR)
		cf.f = f
		c.open++
	} else {
		cf.unlinkIdle()
	}
	cf.refs++
	c.evictLocked()
	return cf.f, nil
}

// release drops a reference taken by acquire.
func (cf *cachedFile) release() {
	c := cf.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	cf.refs--
	if cf.refs > 0 {
		return
	}
	if cf.gone {
		cf.closeLocked()
		return
	}
	c.pushIdle(cf)
	c.evictLocked()
}

// close closes the file for good (the segment is closed or deleted); a
// file still in use is closed by its last release. Later acquires fail.
func (cf *cachedFile) close() error {
	c := cf.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if cf.gone {
		return nil
	}
	cf.gone = true
	if cf.refs > 0 {
		return nil
	}
	return cf.closeLocked()
}

func (cf *cachedFile) closeLocked() error {
	c := cf.cache
	cf.unlinkIdle()
	if cf.f == nil {
		return nil
	}
	err := cf.f.Close()
	cf.f = nil
	c.open--
	return err
}

// evictLocked closes least recently used idle files while over capacity.
func (c *FileCache) evictLocked() {
	for c.open > c.max && c.idle.next != &c.idle {
		_ = c.idle.next.closeLocked() // nothing is lost by a failed close
	}
}
