package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors returned by ParseRequest and the framing code; each one ends the connection.
var (
	ErrFrameSize          = errors.New("wire: invalid frame size")
	ErrTruncated          = errors.New("wire: truncated frame")
	ErrMalformed          = errors.New("wire: malformed request")
	ErrUnknownKey         = errors.New("wire: unknown api key")
	ErrUnsupportedVersion = errors.New("wire: unsupported api version")
)

const (
	apiVersionsKey        = 18 // its response header is always v0, and it has the unsupported-version answer
	controlledShutdownKey = 7  // v0 is the one request with header v0 (no client id)

	// firstChunk is the most a frame buffer starts with, whatever size the frame claims.
	firstChunk = 32 << 10
	// maxGrowth bounds a frame buffer to this many times the bytes received so far. With 16, a
	// 6 MB Produce request grows 32 KiB → 6 MB/16 → 6 MB, a 100 MiB one 32 KiB → 100 MiB/256 →
	// 100 MiB/16 → 100 MiB; a claim of 100 MiB backed by 10 bytes still costs 32 KiB.
	maxGrowth = 16
)

// readFrame reads one size-prefixed frame and returns its payload. A size below zero or above limit
// is ErrFrameSize. The buffer starts at min(size, firstChunk) and, each time it is full, grows to
// at most maxGrowth × the bytes received, straight to the size once that is allowed: the memory
// held stays within a constant factor of what the peer actually sent, whatever it claimed, while a
// large frame that does arrive costs one or two small copies and at most about 1.07× its size (plus
// firstChunk) in allocations, not the 2-3× of doubling.
func readFrame(r io.Reader, limit int32) ([]byte, error) {
	fr := frameReader{r: r}
	frame, _, err := fr.next(limit)
	return frame, err
}

// frameReader reads the frames of one connection. With a pool, a frame whose API key recycle
// reports true is read into a buffer from the pool: one already there if it has one big enough
// (reusing memory that exists is no allocation, so the growth rule does not apply), else one
// that can go to the pool later, allocated by the growth rule with its size class's capacity.
type frameReader struct {
	r       io.Reader
	pool    *framePool       // nil: no frame is pooled
	recycle func(int16) bool // with pool: whether frames of this API key are
	// classCap gives a frame that is not pooled its size class's capacity (see framePool), for a
	// caller that keeps the buffer for later frames of about the same size.
	classCap bool
	scratch  [4]byte
}

// next reads one frame, as readFrame. pooled reports whether the frame's buffer should go back to
// the pool once nothing refers to it.
func (fr *frameReader) next(limit int32) (frame []byte, pooled bool, err error) {
	r, hdr := fr.r, fr.scratch[:4]
	if _, err := io.ReadFull(r, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, false, fmt.Errorf("%w: size prefix: %w", ErrTruncated, err)
		}
		return nil, false, err // io.EOF between frames is a clean close
	}
	size := int32(binary.BigEndian.Uint32(hdr))
	if size < 0 || size > limit {
		return nil, false, fmt.Errorf("%w: %d (limit %d)", ErrFrameSize, size, limit)
	}
	pool := fr.pool
	n := int(size)
	got := 0
	var buf []byte
	if pool != nil && pool.fits(n) {
		// Read the API key first, to learn whether this frame may be recycled.
		key := fr.scratch[:2]
		m, err := io.ReadFull(r, key)
		if err != nil {
			return nil, false, fmt.Errorf("%w: got %d of %d bytes: %w", ErrTruncated, m, n, err)
		}
		pooled = fr.recycle(int16(binary.BigEndian.Uint16(key)))
		if pooled {
			if b := pool.get(n); b != nil {
				copy(b, key)
				if m, err := io.ReadFull(r, b[2:]); err != nil {
					pool.put(b)
					return nil, false, fmt.Errorf("%w: got %d of %d bytes: %w", ErrTruncated, 2+m, n, err)
				}
				return b, true, nil
			}
		}
		buf = make([]byte, firstChunk)
		got = copy(buf, key)
	} else {
		buf = make([]byte, min(n, firstChunk))
	}
	frame, err = fr.fill(buf, got, n, pooled)
	if err != nil {
		return nil, false, err
	}
	return frame, pooled, nil
}

// body reads a frame of n bytes whose size prefix has been read, into a buffer of its own
// (never the pool's), by the growth rule.
func (fr *frameReader) body(n int) ([]byte, error) {
	return fr.fill(make([]byte, min(n, firstChunk)), 0, n, false)
}

// fill reads the rest of a frame of n bytes into buf, which holds its first got bytes, growing
// buf by the growth rule (a last step to n gets its size class's capacity when pooled or classCap).
func (fr *frameReader) fill(buf []byte, got, n int, pooled bool) ([]byte, error) {
	r := fr.r
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return nil, fmt.Errorf("%w: got %d of %d bytes: %w", ErrTruncated, got, n, err)
		}
		if got == n {
			return buf, nil
		}
		// Grow to n if the growth rule allows it, else to n/16, or n/256, …: the largest that it
		// allows, so the steps to n are as few as they can be and the buffers left behind add up
		// to about n/15 at most.
		t := n
		for (t+maxGrowth-1)/maxGrowth > got {
			t = (t + maxGrowth - 1) / maxGrowth
		}
		var next []byte
		if t == n && (pooled || fr.classCap && frameFits(n)) { // a pooled frame always fits
			next = classAlloc(n)
		} else {
			next = make([]byte, t)
		}
		copy(next, buf)
		buf = next
	}
}

// framePool keeps the buffers of recycled request frames for later frames, by size class: four
// classes per power of two (64, 80, 96, 112, 128, 160 KiB, …) from minPooledFrame to
// maxPooledFrame, so a pooled buffer is at most 25% bigger than its class's frames. A frame may
// take a buffer of up to poolSlack classes above its own (at most about twice its size), so that
// frames of varied sizes share buffers instead of each class keeping its own.
//
// The pool is bounded: it keeps at most poolBudget bytes of buffers (a buffer given back beyond
// that is left to the garbage collector), and every poolIdle it lets go of its surplus: as many
// bytes of buffers as it held, at the least, throughout the last period, which no frame needed.
// So under a steady load it keeps about what the load's concurrency needs, not the budget (pooled
// buffers count as live heap, so each idle byte would raise the collector's target, and the
// process's peak RSS, by another), and an idle server keeps nothing. Reuse matters for large
// Produce requests: a fresh buffer the size of each request costs the allocation, its zeroing and
// the collector's work of taking it back.
type framePool struct {
	mu    sync.Mutex
	free  [poolClasses][][]byte // class c holds buffers of capacity classSize(c)
	bytes int                   // capacity of the buffers in free
	low   int                   // the least bytes held since the idle timer was armed
	idle  *time.Timer           // armed while free holds buffers
	shut  bool                  // closed: keeps nothing
	// period is the idle timer's period, poolIdle when zero. A test that calls trim itself
	// sets it far out, so the timer cannot trim (and touch bytes) behind its back.
	period time.Duration
}

const (
	minPooledFrame = 2 * firstChunk // smaller frames are cheap to allocate
	poolClasses    = 41             // up to 64 MiB
	maxPooledFrame = minPooledFrame << ((poolClasses - 1) / 4)
	poolSlack      = 4        // classes above a frame's own that may serve it
	poolBudget     = 16 << 20 // bytes of buffers the pool keeps at most
	poolIdle       = time.Second
)

// classSize is the capacity of class c's buffers.
func classSize(c int) int { return (4 + c%4) * (minPooledFrame / 4) << (c / 4) }

func (p *framePool) fits(n int) bool { return frameFits(n) }

// frameFits reports whether a frame of n bytes has a size class.
func frameFits(n int) bool { return n > firstChunk && n <= maxPooledFrame }

// class returns the smallest class whose buffers hold n bytes; fits(n) must hold.
func (p *framePool) class(n int) int { return frameClass(n) }

// frameClass is framePool.class.
func frameClass(n int) int {
	c := 0
	for classSize(c) < n {
		c++
	}
	return c
}

// get returns a pooled buffer of length n, or nil if the pool has none of n's class or the
// poolSlack classes above it.
func (p *framePool) get(n int) []byte {
	c := p.class(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	for d := c; d < min(c+1+poolSlack, poolClasses); d++ {
		if k := len(p.free[d]); k > 0 {
			b := p.free[d][k-1]
			p.free[d][k-1] = nil
			p.free[d] = p.free[d][:k-1]
			p.bytes -= cap(b)
			p.low = min(p.low, p.bytes)
			return b[:n]
		}
	}
	return nil
}

// alloc returns a new buffer of length n with its class's capacity, so that it can be pooled.
func (p *framePool) alloc(n int) []byte { return classAlloc(n) }

// classAlloc returns a new buffer of length n with its size class's capacity; frameFits(n) must
// hold.
func classAlloc(n int) []byte { return make([]byte, n, classSize(frameClass(n))) }

// put gives a buffer from get or alloc back to the pool, which keeps it if it is within budget.
func (p *framePool) put(b []byte) {
	if !p.fits(cap(b)) {
		return
	}
	c := p.class(cap(b))
	if classSize(c) != cap(b) {
		return // not one of ours
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut || p.bytes+cap(b) > poolBudget {
		return
	}
	p.free[c] = append(p.free[c], b[:cap(b)])
	p.bytes += cap(b)
	if p.idle == nil {
		p.low = p.bytes
		p.idle = time.AfterFunc(p.idlePeriod(), p.trim)
	}
}

// trim lets go of the buffers no frame needed since the timer was armed (p.low bytes of them,
// the largest first) and re-arms the timer while buffers remain.
func (p *framePool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		return
	}
	surplus := p.low
	for c := poolClasses - 1; c >= 0 && surplus > 0; c-- {
		for k := len(p.free[c]); k > 0 && classSize(c) <= surplus; k-- {
			p.free[c][k-1] = nil
			p.free[c] = p.free[c][:k-1]
			p.bytes -= classSize(c)
			surplus -= classSize(c)
		}
	}
	if p.bytes == 0 || p.shut {
		p.dropLocked()
		return
	}
	p.low = p.bytes
	p.idle.Reset(p.idlePeriod())
}

func (p *framePool) idlePeriod() time.Duration {
	if p.period > 0 {
		return p.period
	}
	return poolIdle
}

// close empties the pool for good and stops its timer.
func (p *framePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut = true
	p.dropLocked()
}

func (p *framePool) dropLocked() {
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
	for c := range p.free {
		clear(p.free[c])
		p.free[c] = nil
	}
	p.bytes = 0
}

// ParseRequest decodes one frame payload (the bytes after the size prefix): the request header and
// the body, whose key and version must be registered in mux. The returned Request has no Conn.
//
// On error the Request is nil if the frame is too short for the fixed header fields; otherwise it
// carries the header fields read so far (Key, Version, CorrelationID, maybe ClientID) with a nil
// Msg, so the caller can log it or, for ApiVersions and ErrUnsupportedVersion, answer it. Errors
// wrap ErrMalformed, ErrUnknownKey or ErrUnsupportedVersion. Byte slices in Msg (record batches)
// alias frame; strings are copied.
func ParseRequest(frame []byte, mux *Mux) (*Request, error) {
	req, _, err := parse(frame, mux)
	return req, err
}

func parse(frame []byte, mux *Mux) (*Request, HandlerFunc, error) {
	if len(frame) < 8 {
		return nil, nil, fmt.Errorf("%w: %d-byte frame is shorter than a request header", ErrMalformed, len(frame))
	}
	b := kbin.Reader{Src: frame}
	req := &Request{Key: b.Int16(), Version: b.Int16(), CorrelationID: b.Int32()}
	msg := requestForKey(req.Key)
	if msg == nil {
		return req, nil, fmt.Errorf("%w: %d", ErrUnknownKey, req.Key)
	}
	// kmsg decides flexibility by "version >= N", so this is right even for versions kmsg has
	// never heard of (an ApiVersions from a newer client).
	msg.SetVersion(req.Version)
	if req.Key != controlledShutdownKey || req.Version != 0 {
		req.ClientID = b.NullableString()
		if msg.IsFlexible() {
			kmsg.SkipTags(&b)
		}
		if !b.Ok() {
			return req, nil, fmt.Errorf("%w: %s v%d: bad request header", ErrMalformed, nameForKey(req.Key), req.Version)
		}
	}
	rt, ok := mux.route(req.Key)
	if !ok {
		return req, nil, fmt.Errorf("%w: %s (key %d) is not served", ErrUnknownKey, nameForKey(req.Key), req.Key)
	}
	if req.Version < rt.min || req.Version > rt.max {
		return req, nil, fmt.Errorf("%w: %s v%d (serving v%d-v%d)", ErrUnsupportedVersion, nameForKey(req.Key), req.Version, rt.min, rt.max)
	}
	// Trailing bytes after the body are tolerated, as Kafka does.
	if err := msg.ReadFrom(b.Src); err != nil {
		return req, nil, fmt.Errorf("%w: %s v%d: %w", ErrMalformed, nameForKey(req.Key), req.Version, err)
	}
	req.Msg = msg
	return req, rt.h, nil
}

// appendResponse appends a complete response frame (size, header, body) to dst. resp's version is
// set to version first. The header is the correlation id, plus an empty tagged-field section when
// the response is flexible, except for ApiVersions, whose response header is always v0.
func appendResponse(dst []byte, key, version int16, corr int32, resp kmsg.Response) ([]byte, error) {
	dst, _, err := encodeResponse(dst, nil, key, version, corr, resp, math.MaxInt)
	return dst, err
}

// encodeResponse is appendResponse, except that the record sets of a Fetch response of at least
// minSplice bytes are left out of dst and appended to sp instead, to be written from their own
// slices or Records (see appendFetchResponse, FetchResponse); the frame's size counts them. On
// error dst and sp are returned as they came, and the caller releases resp.
func encodeResponse(dst []byte, sp []splice, key, version int16, corr int32, resp kmsg.Response, minSplice int) ([]byte, []splice, error) {
	if resp.Key() != key {
		return dst, sp, fmt.Errorf("wire: %s request answered with a %s response", nameForKey(key), nameForKey(resp.Key()))
	}
	resp.SetVersion(version)
	start, spStart := len(dst), len(sp)
	dst = append(dst, 0, 0, 0, 0) // size, filled in below
	dst = kbin.AppendInt32(dst, corr)
	if resp.IsFlexible() && key != apiVersionsKey {
		dst = append(dst, 0) // no header tags
	}
	switch f := resp.(type) {
	case *FetchResponse:
		if version > fetchEncodeMaxVersion {
			minSplice = math.MaxInt // kmsg encodes it: every record set must be bytes
		}
		if err := f.inline(minSplice); err != nil {
			return dst[:start], sp, err
		}
		if version > fetchEncodeMaxVersion {
			dst = f.FetchResponse.AppendTo(dst)
		} else {
			dst, sp = appendFetchResponseRecords(dst, sp, f.FetchResponse, f, minSplice)
		}
	case *kmsg.FetchResponse:
		if version <= fetchEncodeMaxVersion {
			dst, sp = appendFetchResponse(dst, sp, f, minSplice)
		} else {
			dst = resp.AppendTo(dst)
		}
	default:
		dst = resp.AppendTo(dst)
	}
	size := len(dst) - start - 4
	for _, s := range sp[spStart:] {
		size += s.size()
	}
	if size > math.MaxInt32 {
		clear(sp[spStart:])
		return dst[:start], sp[:spStart], fmt.Errorf("wire: %s response of %d bytes is too large", nameForKey(key), size)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst, sp, nil
}

// unsupportedVersionsResponse is Kafka's answer to an ApiVersions request of a version it does not
// serve: a v0 response with UNSUPPORTED_VERSION and every key we do serve, so the client can pick a
// version both sides know and ask again.
func unsupportedVersionsResponse(mux *Mux) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = mux.APIKeys()
	return resp
}
