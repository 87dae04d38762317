package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	readBufSize  = 32 << 10
	writeBufSize = 32 << 10
	// maxKeptEncodeBuf bounds the encode buffer a connection keeps between responses, so one large
	// Fetch response does not pin its memory for the connection's lifetime.
	maxKeptEncodeBuf = 1 << 20
)

// pending is a request whose response the writer still owes.
type pending struct {
	key, version int16
	corr         int32
	fut          Future
}

// conn is one client connection: a reader goroutine (serve) and a writer goroutine (writeLoop)
// joined by the queue of pending responses.
type conn struct {
	s      *Server
	nc     net.Conn
	info   *ConnInfo
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan pending

	closeOnce sync.Once
}

func newConn(s *Server, nc net.Conn, listenerName string) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	info := &ConnInfo{Listener: listenerName, LocalAddr: nc.LocalAddr(), RemoteAddr: nc.RemoteAddr()}
	return &conn{
		s:      s,
		nc:     nc,
		info:   info,
		log:    s.log.With("listener", listenerName, "remote", addrString(info.RemoteAddr)),
		ctx:    ctx,
		cancel: cancel,
		queue:  make(chan pending, s.cfg.MaxInFlight),
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
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	c.shutdown()
	close(c.queue) // the reader is the only sender
	<-writerDone
	switch {
	case err == nil, errors.Is(err, io.EOF):
		c.log.Debug("wire: connection closed by peer")
	case c.ctx.Err() != nil && errors.Is(err, net.ErrClosed):
		c.log.Debug("wire: connection closed")
	default:
		c.log.Debug("wire: closing connection", "err", err)
	}
}

// readLoop reads, parses and handles requests in order until an error, which it returns.
func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, readBufSize)
	limit := c.s.cfg.MaxFirstRequestBytes
	for {
		frame, err := readFrame(br, limit)
		if err != nil {
			return err
		}
		req, h, err := parse(frame, c.s.mux)
		if err != nil {
			if req == nil || req.Key != apiVersionsKey || !errors.Is(err, ErrUnsupportedVersion) {
				return err
			}
			// Answered as v0 whatever the client asked for: see unsupportedVersionsResponse.
			c.log.Debug("wire: answering unsupported ApiVersions version", "version", req.Version)
			resp := unsupportedVersionsResponse(c.s.mux)
			if !c.enqueue(pending{key: apiVersionsKey, version: 0, corr: req.CorrelationID, fut: Done(resp, nil)}) {
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
		if !c.enqueue(pending{key: req.Key, version: req.Version, corr: req.CorrelationID, fut: fut}) {
			return c.ctx.Err()
		}
	}
}

// handle calls the handler, turning a panic into an error that ends only this connection.
func (c *conn) handle(h HandlerFunc, req *Request) (fut Future, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("wire: handler panicked; closing connection", "api", kmsg.NameForKey(req.Key),
				"version", req.Version, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("wire: %s handler panicked: %v", kmsg.NameForKey(req.Key), v)
		}
	}()
	return h(c.ctx, req), nil
}

// enqueue hands p to the writer, blocking while MaxInFlight responses are outstanding. It reports
// false if the connection ended first; p's Future is then called anyway, so it can release
// whatever it holds.
func (c *conn) enqueue(p pending) bool {
	select {
	case c.queue <- p:
		return true
	case <-c.ctx.Done():
		_, _ = c.respond(nil, p)
		return false
	}
}

// writeLoop resolves Futures in request order and writes their responses, flushing whenever no
// further response is queued. After a failure it keeps draining (calling) Futures without writing,
// until the reader closes the queue.
func (c *conn) writeLoop() {
	out := &outBuf{bw: bufio.NewWriterSize(c.nc, writeBufSize)}
	defer out.timers.Wait()
	var buf []byte
	failed := false
	for p := range c.queue {
		stop := out.flushLater()
		b, err := c.respond(buf[:0], p)
		stop()
		if failed || c.ctx.Err() != nil {
			failed = true
			continue // the connection is going away: its responses are dropped, as Kafka drops them
		}
		if err == nil {
			err = out.write(b, len(c.queue) == 0)
		}
		if err != nil {
			c.log.Debug("wire: closing connection", "api", kmsg.NameForKey(p.key), "err", err)
			failed = true
			c.shutdown()
			continue
		}
		if cap(b) <= maxKeptEncodeBuf {
			buf = b
		} else {
			buf = nil
		}
	}
}

// flushDelay is how long responses may stay buffered while the writer waits on the next Future.
// A ready Future (most of them) returns well within it, so a burst of pipelined responses still
// leaves in one write; a blocking one (acks=all, a long-poll Fetch) must not hold the responses
// before it, so a timer flushes them.
const flushDelay = 100 * time.Microsecond

// outBuf is the connection's buffered writer, shared by the writer goroutine and its flush timer.
type outBuf struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	err    error          // first write or flush error; the connection is done after it
	timers sync.WaitGroup // flush timers armed or running
}

// write buffers one response frame (if any), flushing if asked.
func (o *outBuf) write(frame []byte, flush bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil && len(frame) > 0 {
		_, o.err = o.bw.Write(frame)
	}
	if o.err == nil && flush && o.bw.Buffered() > 0 {
		o.err = o.bw.Flush()
	}
	return o.err
}

// flushLater arms a timer that flushes buffered responses after flushDelay, unless the returned
// stop is called first. With nothing buffered it arms nothing.
func (o *outBuf) flushLater() (stop func()) {
	o.mu.Lock()
	buffered := o.err == nil && o.bw.Buffered() > 0
	o.mu.Unlock()
	if !buffered {
		return func() {}
	}
	o.timers.Add(1)
	t := time.AfterFunc(flushDelay, func() {
		defer o.timers.Done()
		_ = o.write(nil, true)
	})
	return func() {
		if t.Stop() {
			o.timers.Done()
		}
	}
}

// respond calls p's Future and appends the encoded response frame to dst. It returns dst unchanged
// when there is nothing to send: a nil response, or a connection that is ending. A panic in the
// Future or in encoding is logged and returned as an error.
func (c *conn) respond(dst []byte, p pending) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("wire: response future panicked; closing connection", "api", kmsg.NameForKey(p.key),
				"version", p.version, "panic", v, "stack", string(debug.Stack()))
			out, err = dst, fmt.Errorf("wire: %s response panicked: %v", kmsg.NameForKey(p.key), v)
		}
	}()
	if p.fut == nil {
		return dst, nil
	}
	resp, err := p.fut()
	if err != nil {
		return dst, fmt.Errorf("wire: %s future: %w", kmsg.NameForKey(p.key), err)
	}
	if resp == nil || c.ctx.Err() != nil {
		return dst, nil
	}
	return appendResponse(dst, p.key, p.version, p.corr, resp)
}
