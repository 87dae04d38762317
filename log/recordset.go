package log

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// Records is a read result (see ReadRecords): a sequence of parts, each
// either bytes in memory or a range of a segment file. A file range keeps
// a reference on the segment's open file until Release, so neither the
// FileCache nor retention, cleaning, truncation or Close closes the file
// under it; a segment deleted meanwhile stays readable through the open
// handle. A truncation that would cut a range copies it into memory first,
// so a Records always yields the bytes it was made with.
//
// A nil *Records is valid and empty. WriteTo and Bytes may run more than
// once, but not concurrently with Release.
type Records struct {
	parts    []recordsPart
	n        int64
	released atomic.Bool
	pins     *pinSet // nil when every part is in memory
	cleanup  runtime.Cleanup
}

// recordsPart is bytes in memory (pin == nil) or a file range.
type recordsPart struct {
	mem []byte
	pin *filePin
}

// pinSet is what Release undoes. It is apart from Records so a Records
// dropped without Release can still give its files back when collected.
type pinSet struct {
	pins   []*filePin
	done   atomic.Bool
	logger *slog.Logger
}

func (ps *pinSet) release() {
	if ps.done.Swap(true) {
		return
	}
	for _, p := range ps.pins {
		p.unpin()
	}
}

// filePin is a range of a segment file that a Records holds: a reference
// on the open file (taken by segment.open) and an entry in the cache's pins.
type filePin struct {
	cf   *cachedFile
	base int64 // the segment's, for errors
	f    File
	pos  int64
	n    int64

	// mu is held around every read of the range from the file (a pread
	// or a sendfile call, never while waiting for a socket) and by a
	// truncation that copies the range into mem before cutting the file,
	// so no read sees bytes written after the cut.
	mu  sync.Mutex
	mem []byte // the range, once a truncation copied it; immutable then
	err error  // the copy failed: the range is lost
}

// pin registers p (whose file reference the caller holds).
func (p *filePin) pin() {
	c := p.cf.cache
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	if c.pins == nil {
		c.pins = make(map[*filePin]struct{})
	}
	c.pins[p] = struct{}{}
}

func (p *filePin) unpin() {
	c := p.cf.cache
	c.pinMu.Lock()
	delete(c.pins, p)
	c.pinMu.Unlock()
	p.cf.release()
}

// preservePinned copies into memory every outstanding file range of the
// segment that cutting its file to cut bytes would shorten. The caller
// holds the writer's locks (so no new range of this log can be pinned
// meanwhile) and truncates the file afterwards. Ranges are found by file
// name: one pinned by an earlier Log on the same directory counts too.
func (s *segment) preservePinned(cut int64) {
	c := s.file.cache
	c.pinMu.Lock()
	var doomed []*filePin
	for p := range c.pins {
		if p.cf.sameName(s.file) && p.pos+p.n > cut {
			doomed = append(doomed, p)
		}
	}
	c.pinMu.Unlock()
	for _, p := range doomed {
		p.mu.Lock()
		if p.mem == nil && p.err == nil {
			buf := make([]byte, p.n)
			if err := readFull(p.f, buf, p.pos); err != nil {
				// Released meanwhile (its file closed), or an I/O error:
				// the range is lost either way, never replaced.
				p.err = fmt.Errorf("%w: keep records of segment %d across a truncation: %w", ErrStorage, p.base, err)
			} else {
				p.mem = buf
			}
		}
		p.mu.Unlock()
	}
}

// Len is the number of bytes.
func (r *Records) Len() int {
	if r == nil {
		return 0
	}
	return int(r.n)
}

// Release drops the file references. It is idempotent and safe on nil;
// WriteTo and Bytes fail afterwards.
func (r *Records) Release() {
	if r == nil || r.released.Swap(true) {
		return
	}
	if r.pins != nil {
		r.cleanup.Stop()
		r.pins.release()
	}
}

var errReleased = fmt.Errorf("%w: records already released", ErrClosed)

// WriteTo writes the bytes to w: file ranges with sendfile(2) when w and
// the file are both file descriptors (a TCP connection and an OSFS file,
// on Linux), else through a pooled buffer. It writes exactly Len bytes
// unless it fails.
func (r *Records) WriteTo(w io.Writer) (int64, error) {
	if r == nil {
		return 0, nil
	}
	if r.released.Load() {
		return 0, errReleased
	}
	defer runtime.KeepAlive(r) // the cleanup must not release the files mid-write
	var total int64
	for _, part := range r.parts {
		var n int64
		var err error
		if part.pin == nil {
			var k int
			k, err = w.Write(part.mem)
			n = int64(k)
		} else {
			n, err = part.pin.writeTo(w)
		}
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Bytes reads everything into one new slice (nil when empty), for tests
// and callers that need the bytes themselves.
func (r *Records) Bytes() ([]byte, error) {
	if r == nil || r.n == 0 {
		return nil, nil
	}
	if r.released.Load() {
		return nil, errReleased
	}
	defer runtime.KeepAlive(r)
	out := make([]byte, 0, r.n)
	for _, part := range r.parts {
		if part.pin == nil {
			out = append(out, part.mem...)
			continue
		}
		p := part.pin
		start := len(out)
		out = out[:start+int(p.n)]
		if err := p.readAt(out[start:], 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readAt fills b with the range's bytes from done on.
func (p *filePin) readAt(b []byte, done int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return p.err
	case p.mem != nil:
		copy(b, p.mem[done:])
		return nil
	}
	if err := readFull(p.f, b, p.pos+done); err != nil {
		return fmt.Errorf("%w: read segment %d: %w", ErrStorage, p.base, err)
	}
	return nil
}

// sendfileBytes counts what sendfile sent (tests check the path is taken).
var sendfileBytes atomic.Int64

// copyChunk is the buffer size for writing a file range without sendfile.
const copyChunk = 64 << 10

var copyPool = sync.Pool{New: func() any { b := make([]byte, copyChunk); return &b }}

// writeTo writes the range to w.
func (p *filePin) writeTo(w io.Writer) (int64, error) {
	var done int64
	if dst, ok := w.(syscall.Conn); ok {
		if src, ok := p.f.(syscall.Conn); ok {
			n, err := sendfile(dst, src, p, done)
			done += n
			if err != nil {
				return done, err
			}
		}
	}
	// What sendfile did not send: none of it (not two descriptors, not
	// Linux, or a pair sendfile cannot serve), or what a truncation copied
	// into memory meanwhile.
	if done == p.n {
		return done, nil
	}
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	for done < p.n {
		p.mu.Lock()
		mem, err := p.mem, p.err
		p.mu.Unlock()
		if err != nil {
			return done, err
		}
		if mem != nil {
			k, err := w.Write(mem[done:])
			return done + int64(k), err
		}
		b := (*bp)[:min(int64(len(*bp)), p.n-done)]
		if err := p.readAt(b, done); err != nil {
			return done, err
		}
		k, err := w.Write(b)
		done += int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
