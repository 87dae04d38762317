package raftmeta

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// transportTimeout is the I/O deadline of one Raft RPC on the network transport (raft scales it
// up for InstallSnapshot). It is Consul's choice; a metadata snapshot is small.
const transportTimeout = 10 * time.Second

// newNetworkTransport runs Raft's NetworkTransport over the connections of cfg.Listener, dialing
// peers with cfg.Dial.
func newNetworkTransport(cfg *Config, logger hclog.Logger) (*raft.NetworkTransport, *streamLayer) {
	dial := cfg.Dial
	if dial == nil {
		dial = func(addr string, timeout time.Duration) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			return DialTag(ctx, nil, addr, TagRaft, cfg.ClusterID)
		}
	}
	stream := &streamLayer{Listener: cfg.Listener, addr: cfg.Listener.Addr(), dial: dial, conns: map[*dialedConn]struct{}{}}
	if a, ok := cfg.voterAddr(); ok {
		stream.addr = advertisedAddr(a)
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		// No pipelined replication (1 RPC in flight): raft's pipeline can deadlock its own
		// Shutdown. Once the replication goroutine's response consumer has stopped, the
		// pipeline's decoder blocks handing it the next response, its in-flight queue fills,
		// and the replicator blocks in AppendEntries before it can close the pipeline, so
		// Shutdown waits forever (a fixture StopNode hung 9 minutes in TestTransactionChecker
		// under -race, in netPipeline.AppendEntries). hashicorp/raft#541 measured pipelining
		// to gain little; the metadata log is small.
		MaxRPCsInFlight: 1,
		Timeout:         transportTimeout,
		Logger:          logger,
	}), stream
}

// voterAddr is this node's address in Voters, if it is a voter.
func (c *Config) voterAddr() (string, bool) {
	for _, v := range c.Voters {
		if v.ID == c.NodeID {
			return v.Addr, true
		}
	}
	return "", false
}

// streamLayer is raft.StreamLayer over a (demultiplexed) listener and a dial function.
//
// Addr is the node's advertised voter address, not the listener's bound one: the transport
// reports it as its LocalAddr, and Raft sends that in every RPC so followers learn where the
// leader is (Leader()). A listener bound to ":9093" would tell them "[::]:9093".
//
// It keeps the connections it dialled so that Close can cut them (closeDialed). hashicorp/raft
// 1.7.3 waits, in Shutdown, for its replication goroutines, and one of them can be stuck handing
// an AppendEntries to a pipeline whose 128 in-flight requests go to a peer that answers nothing
// (a peer behind a one-way cut, or one whose process stalled): the pipeline's decoder gives up
// on each request only after the transport's 10 s read deadline, so Shutdown took up to 128 × 10 s.
// Cutting the connections fails those reads at once.
type streamLayer struct {
	net.Listener
	addr net.Addr
	dial func(addr string, timeout time.Duration) (net.Conn, error)

	mu     sync.Mutex
	conns  map[*dialedConn]struct{}
	closed bool
}

func (s *streamLayer) Addr() net.Addr { return s.addr }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := s.dial(string(addr), timeout)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, raft.ErrTransportShutdown
	}
	dc := &dialedConn{Conn: c, s: s}
	s.conns[dc] = struct{}{}
	return dc, nil
}

// closeDialed closes every connection Dial made and fails later dials.
func (s *streamLayer) closeDialed() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*dialedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// dialedConn is a connection streamLayer dialled; it forgets itself when closed.
type dialedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *dialedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
