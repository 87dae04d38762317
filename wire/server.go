package wire

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ServerConfig tunes a Server. Zero (or negative) fields take the defaults.
type ServerConfig struct {
	MaxRequestBytes      int32         // socket.request.max.bytes, default 104857600
	MaxFirstRequestBytes int32         // cap on frames before the first request of a conn is handled; default 1<<20
	MaxInFlight          int           // requests read ahead of their responses per conn; default 64
	AuthTimeout          time.Duration // bound on a connection's TLS handshake and SASL exchange; default DefaultAuthTimeout
	MaxAuthBytes         int32         // cap on frames before SASL authentication (sasl.server.max.receive.size); default DefaultMaxAuthBytes
	Logger               *slog.Logger  // nil discards
	// Observer, if set, is told of every request the server answered (see RequestObserver).
	Observer RequestObserver
}

// RequestObserver is told of each request a Server served, once the request's Future has
// returned and before its response is written, on the connection's writer goroutine: a Kafka
// client that has its response has been counted. elapsed runs from when the request was parsed to
// when its Future returned (Kafka's request time less the network send). It is called for every
// request of every connection, so it must be cheap, must not block and must not allocate: atomic
// counters, a lock-free histogram. A request whose connection ended before it was answered is
// not observed.
type RequestObserver interface {
	RequestDone(key, version int16, elapsed time.Duration)
}

// Defaults, as Kafka's where Kafka has the setting.
const (
	DefaultMaxRequestBytes      = 104857600 // socket.request.max.bytes
	DefaultMaxFirstRequestBytes = 1 << 20
	DefaultMaxInFlight          = 64
)

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxFirstRequestBytes <= 0 {
		c.MaxFirstRequestBytes = DefaultMaxFirstRequestBytes
	}
	// The first-request cap only ever lowers the limit.
	c.MaxFirstRequestBytes = min(c.MaxFirstRequestBytes, c.MaxRequestBytes)
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.MaxAuthBytes <= 0 {
		c.MaxAuthBytes = DefaultMaxAuthBytes
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server serves Kafka connections with the handlers of a Mux. One Server may serve several
// listeners (each with its own listener name) and individual connections.
type Server struct {
	mux    *Mux
	cfg    ServerConfig
	log    *slog.Logger
	frames framePool // buffers of recycled request frames, shared by all connections

	ctx    context.Context // canceled by Close; parent of every connection's context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one count per live connection
}

// NewServer returns a Server dispatching to mux, which must not be nil.
func NewServer(mux *Mux, cfg ServerConfig) *Server {
	if mux == nil {
		panic("wire: NewServer with a nil Mux")
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		mux:       mux,
		cfg:       cfg,
		log:       cfg.Logger,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
}

// Serve accepts connections on ln and serves each on its own goroutines, tagging their requests
// with listenerName. It blocks until ln fails or s is closed, and closes ln when it returns. It
// returns nil once Close has been called, otherwise the listener's error. Transient accept errors
// (too many open files, say) are logged and retried with a backoff.
func (s *Server) Serve(ln net.Listener, listenerName string) error {
	return s.serve(ln, listenerName, Security{})
}

func (s *Server) serve(ln net.Listener, listenerName string, sec Security) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("wire: accept failed; retrying", "listener", listenerName, "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		c := s.track(nc, listenerName, sec)
		if c == nil {
			return nil // closed meanwhile; track closed nc
		}
		go c.serve()
	}
}

// ServeConn serves one already-accepted connection until it ends, tagging its requests with
// listenerName. It closes nc before returning. After Close it closes nc at once.
func (s *Server) ServeConn(nc net.Conn, listenerName string) {
	if c := s.track(nc, listenerName, Security{}); c != nil {
		c.serve()
	}
}

// Close stops accepting, closes all connections (canceling their handlers' contexts) and waits for
// their goroutines to end. It returns the first error from closing a listener, if any.
func (s *Server) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var errs []error
	if !already {
		s.cancel()
		for _, ln := range lns {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		for _, c := range conns {
			c.shutdown()
		}
	}
	s.wg.Wait()
	s.frames.close() // after the connections: none gives a buffer back any more
	return errors.Join(errs...)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a new connection, or closes nc and returns nil if the server is closed. Adding to
// the WaitGroup under mu, only while open, is what lets Close's Wait see every connection.
func (s *Server) track(nc net.Conn, listenerName string, sec Security) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = nc.Close()
		return nil
	}
	c := newConn(s, nc, listenerName, sec)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

// Connections counts the open connections by listener name (connections being authenticated
// included), for a metrics scrape: it takes the server's lock, so keep it off hot paths.
func (s *Server) Connections() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := make(map[string]int)
	for c := range s.conns {
		n[c.listener]++
	}
	return n
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}
