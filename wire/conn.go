package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// readBufSize is the connection's read buffer, which it keeps for its lifetime, idle or not:
	// at 32 KiB it was most of an idle connection's heap. Large frames gain nothing from a bigger
	// one, since bufio reads past its buffer straight into the frame once it is empty; a request
	// of up to about 1 KiB (Fetch, Heartbeat, Metadata of a few topics) still arrives with its
	// size prefix in one read.
	readBufSize = 1 << 10
	// writeBufSize is how many bytes of responses may gather before they are written even though
	// more responses are queued.
	writeBufSize = 32 << 10
	// tlsWriteBufSize is the buffer a TLS connection's responses are gathered in (outBuf.tlsw):
	// four full TLS records.
	tlsWriteBufSize = 64 << 10
	// maxKeptEncodeBuf bounds the encode buffer a connection keeps between responses, so one large
	// response does not pin its memory for the connection's lifetime. (A Fetch response's record
	// sets never enter it.)
	maxKeptEncodeBuf = 1 << 20
)

// pending is a request whose response the writer still owes.
type pending struct {
	key, version int16
	corr         int32
	fut          Future
	frame        []byte        // the request's frame, to recycle once the Future has been called; or nil
	start        time.Duration // when the request was parsed (sinceStart), for the Observer; zero without one
}

// processStart is the origin of pending.start: a Duration on the monotonic clock is a third of a
// time.Time, and every connection's queue holds MaxInFlight pendings whether used or not.
var processStart = time.Now()

func sinceStart() time.Duration { return time.Since(processStart) }

// conn is one client connection: a reader goroutine (serve) and a writer goroutine (writeLoop)
// joined by the queue of pending responses.
type conn struct {
	s        *Server
	listener string        // the listener's name, as in info
	nc       net.Conn      // the socket: closed by shutdown
	rw       io.ReadWriter // what requests are read from and responses written to: nc, or TLS over it
	sec      Security
	info     *ConnInfo // replaced (never modified) when the connection authenticates
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	queue    chan pending
	out      *outBuf
	// queued counts the pendings handed to the writer and not yet written by it: at zero the
	// writer holds nothing, and the reader may write a ready response itself (writeHere).
	queued atomic.Int32

	closeOnce sync.Once
}

func newConn(s *Server, nc net.Conn, listenerName string, sec Security) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	info := &ConnInfo{Listener: listenerName, LocalAddr: nc.LocalAddr(), RemoteAddr: nc.RemoteAddr(), Principal: Anonymous}
	return &conn{
		s:        s,
		listener: listenerName,
		nc:       nc,
		rw:       nc,
		sec:      sec,
		info:     info,
		log:      s.log.With("listener", listenerName, "remote", addrString(info.RemoteAddr)),
		ctx:      ctx,
		cancel:   cancel,
		queue:    make(chan pending, s.cfg.MaxInFlight),
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// shutdown cancels the connection's context and closes its socket, which wakes a reader blocked
// in Read and a writer blocked in Write. Safe to call from any goroutine, any number of times.
func (c *conn) shutdown() {
	c.cancel()
	c.closeOnce.Do(func() { _ = c.nc.Close() })
}

// serve runs the connection to its end: it starts the writer, reads and handles requests until
// the connection fails, then tears down and waits for the writer.
func (c *conn) serve() {
	defer c.s.untrack(c)
	c.log.Debug("wire: connection opened")
	fr := &frameReader{pool: &c.s.frames, recycle: c.s.mux.recycles}
	err := c.secure(fr)
	if err != nil {
		c.shutdown()
	} else {
		c.out = newOutBuf(c.rw)
		writerDone := make(chan struct{})
		go func() {
			defer close(writerDone)
			c.writeLoop()
		}()
		err = c.readLoop(fr)
		c.shutdown()
		close(c.queue) // the reader is the only sender
		<-writerDone
	}
	switch {
	case err == nil, errors.Is(err, io.EOF):
		c.log.Debug("wire: connection closed by peer")
	case c.ctx.Err() != nil && errors.Is(err, net.ErrClosed):
		c.log.Debug("wire: connection closed")
	default:
		c.log.Debug("wire: closing connection", "err", err)
	}
}

// secure runs what the listener's Security asks before requests are served: the TLS handshake,
// then the SASL exchange. It sets fr's reader to the (possibly TLS) connection.
func (c *conn) secure(fr *frameReader) error {
	if c.sec.TLS != nil {
		if err := c.tlsHandshake(); err != nil {
			return err
		}
	}
	fr.r = bufio.NewReaderSize(c.rw, readBufSize)
	if c.sec.SASL != nil {
		return c.authenticate(fr)
	}
	return nil
}

// readLoop reads, parses and handles requests in order until an error, which it returns.
func (c *conn) readLoop(fr *frameReader) error {
	limit := c.s.cfg.MaxFirstRequestBytes
	if c.sec.SASL != nil {
		limit = c.s.cfg.MaxRequestBytes // the client has authenticated: it speaks Kafka
	}
	for {
		frame, pooled, err := fr.next(limit)
		if err != nil {
			return err
		}
		var start time.Duration
		if c.s.cfg.Observer != nil {
			start = sinceStart()
		}
		req, h, err := parse(frame, c.s.mux)
		if err != nil {
			if req == nil || req.Key != apiVersionsKey || !errors.Is(err, ErrUnsupportedVersion) {
				return err
			}
			// Answered as v0 whatever the client asked for: see unsupportedVersionsResponse.
			c.log.Debug("wire: answering unsupported ApiVersions version", "version", req.Version)
			resp := unsupportedVersionsResponse(c.s.mux)
			if !c.enqueue(pending{key: apiVersionsKey, version: 0, corr: req.CorrelationID, fut: Done(resp, nil), start: start}) {
				return c.ctx.Err()
			}
			limit = c.s.cfg.MaxRequestBytes
			continue
		}
		limit = c.s.cfg.MaxRequestBytes
		req.Conn = c.info
		fut, err := c.handle(h, req)
		if err != nil {
			return err
		}
		p := pending{key: req.Key, version: req.Version, corr: req.CorrelationID, fut: fut}
		if c.s.cfg.Observer != nil {
			p.start = start
		}
		if pooled {
			p.frame = frame
		}
		if here, err := c.writeHere(fr, p); here || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		if !c.enqueue(p) {
			return c.ctx.Err()
		}
	}
}

// handle calls the handler, turning a panic into an error that ends only this connection.
func (c *conn) handle(h HandlerFunc, req *Request) (fut Future, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("wire: handler panicked; closing connection", "api", nameForKey(req.Key),
				"version", req.Version, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("wire: %s handler panicked: %v", nameForKey(req.Key), v)
		}
	}()
	return h(c.ctx, req), nil
}

// writeHere writes p's response on the reader's goroutine when that keeps the order and cannot
// block: p's Future is Done, the writer holds no earlier response, and no further request is
// already buffered (a pipelining client's responses still gather in the writer, several to a
// write). A client that waits for each answer (a transactional producer's Produce and EndTxn, a
// consumer's commits) then costs no hand-off to the writer per request: on two cores each was a
// thread wake-up, a steal and a park. It reports whether it wrote (or dropped) the response; an
// error ends the connection.
func (c *conn) writeHere(fr *frameReader, p pending) (bool, error) {
	if !isDone(p.fut) || c.queued.Load() != 0 || fr.buffered() > 0 {
		return false, nil
	}
	resp, err := c.respond(p)
	if obs := c.s.cfg.Observer; obs != nil && err == nil && c.ctx.Err() == nil {
		obs.RequestDone(p.key, p.version, sinceStart()-p.start)
	}
	if err == nil && c.ctx.Err() == nil {
		err = c.write(c.out, p, resp, true)
	} else if resp != nil {
		releaseResponse(resp)
	}
	c.recycle(p)
	if err != nil {
		c.log.Debug("wire: closing connection", "api", nameForKey(p.key), "err", err)
		return true, err
	}
	return true, nil
}

// enqueue hands p to the writer, blocking while MaxInFlight responses are outstanding. It reports
// false if the connection ended first; p's Future is then called anyway, so it can release
// whatever it holds.
func (c *conn) enqueue(p pending) bool {
	c.queued.Add(1)
	select {
	case c.queue <- p:
		return true
	case <-c.ctx.Done():
		c.queued.Add(-1)
		_, _ = c.respond(p)
		c.recycle(p)
		return false
	}
}

// writeLoop resolves Futures in request order and writes their responses, flushing whenever no
// further response is queued. After a failure it keeps draining (calling) Futures without writing,
// until the reader closes the queue.
func (c *conn) writeLoop() {
	out := c.out
	defer out.timers.Wait()
	failed := false
	for p := range c.queue {
		stop := out.flushLater()
		resp, err := c.respond(p)
		stop()
		if obs := c.s.cfg.Observer; obs != nil && err == nil && !failed && c.ctx.Err() == nil {
			obs.RequestDone(p.key, p.version, sinceStart()-p.start)
		}
		if failed || c.ctx.Err() != nil {
			failed = true
			if resp != nil {
				releaseResponse(resp)
			}
			continue // the connection is going away: its responses are dropped, as Kafka drops them
		}
		if err == nil {
			err = c.write(out, p, resp, len(c.queue) == 0)
		}
		if err != nil {
			c.log.Debug("wire: closing connection", "api", nameForKey(p.key), "err", err)
			failed = true
			c.shutdown()
		}
		c.recycle(p)
		c.queued.Add(-1)
	}
	out.release()
}

// newOutBuf returns the connection's response buffer over rw.
func newOutBuf(rw io.ReadWriter) *outBuf {
	out := &outBuf{w: rw}
	if _, ok := rw.(*tls.Conn); ok {
		out.tlsw = bufio.NewWriterSize(rw, tlsWriteBufSize)
		out.w = out.tlsw
	}
	return out
}

// recycle returns p's frame to the server's pool, if it is one to recycle. p's Future must have
// been called, and its response encoded, since the Mux's promise (RecycleFrames) covers only what
// comes after.
func (c *conn) recycle(p pending) {
	if p.frame != nil {
		c.s.frames.put(p.frame)
	}
}

// respond calls p's Future. It returns a nil response when there is nothing to send: a nil
// response, or a connection that is ending. A panic in the Future is logged and returned as an
// error.
func (c *conn) respond(p pending) (resp kmsg.Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("wire: response future panicked; closing connection", "api", nameForKey(p.key),
				"version", p.version, "panic", v, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("wire: %s response panicked: %v", nameForKey(p.key), v)
		}
	}()
	if p.fut == nil {
		return nil, nil
	}
	resp, err = p.fut()
	if err != nil {
		if resp != nil {
			releaseResponse(resp)
		}
		return nil, fmt.Errorf("wire: %s future: %w", nameForKey(p.key), err)
	}
	if c.ctx.Err() != nil {
		if resp != nil {
			releaseResponse(resp)
		}
		return nil, nil
	}
	return resp, nil
}

// write encodes resp (if any) into out, which writes what it holds if flush is set or enough has
// gathered. A panic while encoding is logged and returned as an error.
func (c *conn) write(out *outBuf, p pending, resp kmsg.Response, flush bool) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("wire: encoding a response panicked; closing connection", "api", nameForKey(p.key),
				"version", p.version, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("wire: %s response panicked: %v", nameForKey(p.key), v)
		}
	}()
	return out.write(p, resp, flush)
}

// flushDelay is how long responses may stay buffered while the writer waits on the next Future.
// A ready Future (most of them) returns well within it, so a burst of pipelined responses still
// leaves in one write; a blocking one (acks=all, a long-poll Fetch) must not hold the responses
// before it, so a timer flushes them.
const flushDelay = 100 * time.Microsecond

// outBuf holds the connection's encoded responses until they are written, shared by the writer
// goroutine and its flush timer. Small responses gather in buf and leave together in one write,
// as through a bufio.Writer. The record sets of a large Fetch response are not copied into buf:
// they stay in the buffers the log read them into, as splices, and a flush sends buf's pieces and
// those slices with one writev.
type outBuf struct {
	mu sync.Mutex
	w  io.Writer
	// tlsw, on a TLS connection, is w: it gathers a flush's pieces into full TLS records. Each
	// Write on a tls.Conn seals at least one record (an AEAD pass, 29 bytes of header and tag)
	// and makes one syscall, and a Fetch response is a header piece and a record set per
	// partition: unbuffered, a six-partition fetch was thirteen records and syscalls. (Plain
	// sockets keep writev and sendfile instead.)
	tlsw    *bufio.Writer
	buf     []byte   // encoded frames, less their splices
	splices []splice // record sets that belong in buf, by offset, in order
	spliced int      // bytes in splices
	vec     net.Buffers
	err     error          // first write error; the connection is done after it
	timers  sync.WaitGroup // flush timers armed or running
}

// write encodes resp (if not nil) after what out holds, then writes everything if flush is set or
// writeBufSize bytes have gathered. A panic while encoding leaves out as it was.
func (o *outBuf) write(p pending, resp kmsg.Response, flush bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		if resp != nil {
			releaseResponse(resp)
		}
		return o.err
	}
	if resp != nil {
		n, ns := len(o.buf), len(o.splices)
		ok := false
		defer func() {
			if !ok { // panicked: drop the partial frame, keep the ones before it
				releaseResponse(resp)
				clear(o.splices[ns:])
				o.buf, o.splices = o.buf[:n], o.splices[:ns]
			}
		}()
		var err error
		o.buf, o.splices, err = encodeResponse(o.buf, o.splices, p.key, p.version, p.corr, resp, spliceMin)
		ok = true
		if err != nil {
			releaseResponse(resp)
			return err
		}
		for _, s := range o.splices[ns:] {
			o.spliced += s.size()
		}
	}
	if n := len(o.buf) + o.spliced; n > 0 && (flush || n >= writeBufSize) {
		o.err = o.flushLocked()
	}
	return o.err
}

// flushLocked writes everything out holds, with a single write or writev (and, for each Records,
// its own WriteTo: sendfile for file ranges), and empties it. Every Records is released, written
// or not.
func (o *outBuf) flushLocked() error {
	var err error
	if len(o.splices) == 0 {
		_, err = o.w.Write(o.buf)
	} else {
		vec, prev := o.vec[:0], 0
		for i, s := range o.splices {
			if s.at > prev {
				vec = append(vec, o.buf[prev:s.at])
			}
			prev = s.at
			if s.rec == nil {
				vec = append(vec, s.data)
				continue
			}
			// Send what precedes the Records, then let it write itself.
			if err = o.writeVec(vec); err == nil {
				err = writeRecords(o.w, s.rec)
			}
			vec = vec[:0]
			if err != nil {
				o.releaseSplices(i)
				break
			}
			s.rec.Release()
		}
		if err == nil && prev < len(o.buf) {
			vec = append(vec, o.buf[prev:])
		}
		if err == nil {
			err = o.writeVec(vec)
		}
		clear(o.splices)
	}
	if err == nil && o.tlsw != nil {
		err = o.tlsw.Flush()
	}
	o.splices, o.spliced = o.splices[:0], 0
	if cap(o.buf) <= maxKeptEncodeBuf {
		o.buf = o.buf[:0]
	} else {
		o.buf = nil
	}
	return err
}

// writeVec writes vec's pieces with one write or writev, keeping no references to them after.
func (o *outBuf) writeVec(vec net.Buffers) error {
	var err error
	switch len(vec) {
	case 0:
	case 1:
		_, err = o.w.Write(vec[0])
	default:
		o.vec = vec
		_, err = vec.WriteTo(o.w) // consumes its copy of vec, not o.vec
	}
	clear(vec)
	return err
}

// writeRecords writes rec, which must write exactly rec.Len() bytes: a short one breaks the frame.
func writeRecords(w io.Writer, rec Records) error {
	n, err := rec.WriteTo(w)
	if err == nil && n != int64(rec.Len()) {
		err = fmt.Errorf("%w: %d of %d", errRecordsShort, n, rec.Len())
	}
	return err
}

// releaseSplices releases the Records of splices from index i on.
func (o *outBuf) releaseSplices(i int) {
	for _, s := range o.splices[i:] {
		if s.rec != nil {
			s.rec.Release()
		}
	}
}

// release drops out's buffers once the writer is done, with any responses never written.
func (o *outBuf) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.releaseSplices(0)
	o.buf, o.splices, o.spliced, o.vec = nil, nil, 0, nil
}

// flushLater arms a timer that flushes buffered responses after flushDelay, unless the returned
// stop is called first. With nothing buffered it arms nothing.
func (o *outBuf) flushLater() (stop func()) {
	o.mu.Lock()
	buffered := o.err == nil && len(o.buf)+o.spliced > 0
	o.mu.Unlock()
	if !buffered {
		return func() {}
	}
	o.timers.Add(1)
	t := time.AfterFunc(flushDelay, func() {
		defer o.timers.Done()
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.err == nil && len(o.buf)+o.spliced > 0 {
			o.err = o.flushLocked()
		}
	})
	return func() {
		if t.Stop() {
			o.timers.Done()
		}
	}
}

// buffered is how many bytes of the next requests the reader already holds.
func (fr *frameReader) buffered() int {
	if br, ok := fr.r.(*bufio.Reader); ok {
		return br.Buffered()
	}
	return 0
}
