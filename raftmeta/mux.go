package raftmeta

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Tags: the first byte a dialer writes on the CONTROLLER listener says what the connection
// carries (DESIGN: one listener, one port).
const (
	TagRaft    byte = 'R' // Raft RPCs (hashicorp/raft's NetworkTransport)
	TagControl byte = 'C' // the broker's control calls (registration, heartbeats, forwarding)
)

// tagTimeout bounds how long an accepted connection may take to send its tag byte, so a port
// scanner or a stuck client cannot pin a goroutine.
const tagTimeout = 10 * time.Second

// Mux splits one listener into one listener per tag byte.
type Mux struct {
	ln  net.Listener
	log *slog.Logger

	mu      sync.Mutex
	subs    map[byte]*tagListener
	pending map[net.Conn]struct{} // accepted, tag not read yet
	closed  bool
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
}

// NewMux returns a Mux over ln. Call Listener for each tag, then Serve.
func NewMux(ln net.Listener, logger *slog.Logger) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mux{
		ln:      ln,
		log:     logger,
		subs:    map[byte]*tagListener{},
		pending: map[net.Conn]struct{}{},
		done:    make(chan struct{}),
	}
}

// Listener returns the listener of the connections whose first byte is tag; the tag byte is
// consumed. There is one listener per tag at a time: while it is open, Listener returns the same
// one; once it is closed (Raft closes its listener on shutdown), Listener makes a new one, so a
// node can be restarted on the same Mux.
func (m *Mux) Listener(tag byte) net.Listener {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.subs[tag]; ok && !l.isClosed() {
		return l
	}
	l := &tagListener{mux: m, tag: tag, conns: make(chan net.Conn), closed: make(chan struct{})}
	if m.closed {
		l.Close()
		return l
	}
	m.subs[tag] = l
	return l
}

// Serve accepts connections until Close, reads each one's tag byte (within 10s) and hands it to
// that tag's listener. A connection with an unknown tag, or none, is closed. Serve returns nil
// after Close, or the listener's error if it fails otherwise.
func (m *Mux) Serve() error {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if m.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("raftmeta: mux: %w", err)
			}
			// Out of file descriptors and the like: wait and retry, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("controller listener: accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-m.done:
				return nil
			}
		}
		backoff = 0
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return nil
		}
		m.pending[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.route(c)
	}
}

func (m *Mux) route(c net.Conn) {
	defer m.wg.Done()
	tag, err := readTag(c)
	m.mu.Lock()
	delete(m.pending, c)
	l := m.subs[tag]
	m.mu.Unlock()
	if err != nil {
		m.log.Debug("controller listener: no tag byte", "remote", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	if l == nil {
		m.log.Debug("controller listener: unknown tag", "remote", c.RemoteAddr(), "tag", tag)
		c.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	case <-m.done:
		c.Close()
	}
}

func readTag(c net.Conn) (byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(tagTimeout)); err != nil {
		return 0, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, err
	}
	return b[0], c.SetReadDeadline(time.Time{})
}

// Close closes the listener, the connections still waiting to send their tag, and every tag
// listener, and waits for the routing goroutines. Connections already handed out are their
// accepter's to close. Close is idempotent.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	err := m.ln.Close()
	for c := range m.pending {
		c.Close()
	}
	for _, l := range m.subs {
		l.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (m *Mux) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// tagListener is the net.Listener of one tag.
type tagListener struct {
	mux    *Mux
	tag    byte
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *tagListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
	case <-l.mux.done:
	}
	return nil, fmt.Errorf("raftmeta: mux listener %q: %w", l.tag, net.ErrClosed)
}

func (l *tagListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *tagListener) Addr() net.Addr { return l.mux.ln.Addr() }

func (l *tagListener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// DialTag connects to a controller listener at addr and writes tag, so the peer's Mux hands the
// connection to that tag's listener. timeout bounds the dial and the tag write (0: none).
func DialTag(addr string, tag byte, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := c.Write([]byte{tag}); err != nil {
		c.Close()
		return nil, fmt.Errorf("raftmeta: writing tag to %s: %w", addr, err)
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
