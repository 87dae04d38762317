package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Tags: the first byte a dialer writes on the CONTROLLER listener says what the connection
// carries (ARCHITECTURE.md: one listener, one port).
const (
	TagRaft    byte = 'R' // Raft RPCs (hashicorp/raft's NetworkTransport)
	TagControl byte = 'C' // the broker's control calls (registration, heartbeats, forwarding)
)

// tagTimeout bounds how long an accepted connection may take to send its tag byte, so a port
// scanner or a stuck client cannot pin a goroutine.
const tagTimeout = 10 * time.Second

// Mux splits one listener into one listener per tag byte.
//
// The handshake is: the dialer writes the tag byte, then its cluster id (one length byte and the
// id); the Mux answers one byte, 0 when the ids match, or 1 followed by its own cluster id (length
// byte and id) and closes the connection. A node of another cluster is thus refused on its first
// connection, before any Raft message or control call is exchanged, and the dialer can say
// which cluster it met (Kafka checks the cluster id on every KRaft RPC for the same reason).
type Mux struct {
	ln        net.Listener
	clusterID string
	log       *slog.Logger

	mu      sync.Mutex
	subs    map[byte]*tagListener
	pending map[net.Conn]struct{} // accepted, tag not read yet
	closed  bool
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
}

// NewMux returns a Mux over ln for the cluster clusterID. Call Listener for each tag, then Serve.
func NewMux(ln net.Listener, clusterID string, logger *slog.Logger) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mux{
		ln:        ln,
		clusterID: clusterID,
		log:       logger,
		subs:      map[byte]*tagListener{},
		pending:   map[net.Conn]struct{}{},
		done:      make(chan struct{}),
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
	tag, err := m.handshake(c)
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

// handshake reads the tag and the dialer's cluster id and answers whether the ids match.
func (m *Mux) handshake(c net.Conn) (byte, error) {
	if err := c.SetDeadline(time.Now().Add(tagTimeout)); err != nil {
		return 0, err
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, err
	}
	id := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, id); err != nil {
		return 0, err
	}
	if string(id) != m.clusterID {
		m.log.Error("refused a connection from a node of another cluster",
			"remote", c.RemoteAddr(), "their_cluster", string(id), "our_cluster", m.clusterID)
		c.Write(append([]byte{1, byte(len(m.clusterID))}, m.clusterID...))
		return 0, fmt.Errorf("%w: peer has %q", ErrClusterIDMismatch, id)
	}
	if _, err := c.Write([]byte{0}); err != nil {
		return 0, err
	}
	return hdr[0], c.SetDeadline(time.Time{})
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

// Dialer opens a network connection; the test fixture passes one that can cut nodes off.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// ClusterIDMismatchError is a peer's refusal: it belongs to another cluster.
type ClusterIDMismatchError struct {
	Addr, Ours, Theirs string
}

func (e *ClusterIDMismatchError) Error() string {
	return fmt.Sprintf("raftmeta: the node at %s belongs to cluster %q, this node to %q", e.Addr, e.Theirs, e.Ours)
}

// Unwrap makes errors.Is(err, ErrClusterIDMismatch) hold.
func (e *ClusterIDMismatchError) Unwrap() error { return ErrClusterIDMismatch }

// DialTag connects to a controller listener at addr with dial (nil: a plain net.Dialer) and does
// the handshake: tag, cluster id, and the peer's verdict. ctx bounds the dial and the handshake.
// A peer of another cluster is a *ClusterIDMismatchError.
func DialTag(ctx context.Context, dial Dialer, addr string, tag byte, clusterID string) (net.Conn, error) {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	if len(clusterID) > 255 {
		return nil, fmt.Errorf("raftmeta: cluster id longer than 255 bytes")
	}
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	hello := append([]byte{tag, byte(len(clusterID))}, clusterID...)
	if _, err := c.Write(hello); err != nil {
		c.Close()
		return nil, fmt.Errorf("raftmeta: handshake with %s: %w", addr, err)
	}
	var verdict [1]byte
	if _, err := io.ReadFull(c, verdict[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("raftmeta: handshake with %s: %w", addr, err)
	}
	if verdict[0] != 0 {
		var n [1]byte
		io.ReadFull(c, n[:])
		theirs := make([]byte, n[0])
		io.ReadFull(c, theirs)
		c.Close()
		return nil, &ClusterIDMismatchError{Addr: addr, Ours: clusterID, Theirs: string(theirs)}
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
