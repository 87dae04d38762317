package raftmeta

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// transportTimeout is the I/O deadline of one Raft RPC on the network transport (raft scales it
// up for InstallSnapshot). It is Consul's choice; a metadata snapshot is small.
const transportTimeout = 10 * time.Second

// newNetworkTransport runs Raft's NetworkTransport over the connections of cfg.Listener, dialing
// peers with cfg.Dial.
func newNetworkTransport(cfg *Config, logger hclog.Logger) *raft.NetworkTransport {
	dial := cfg.Dial
	if dial == nil {
		dial = func(addr string, timeout time.Duration) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			return DialTag(ctx, nil, addr, TagRaft, cfg.ClusterID)
		}
	}
	stream := &streamLayer{Listener: cfg.Listener, addr: cfg.Listener.Addr(), dial: dial}
	if a, ok := cfg.voterAddr(); ok {
		stream.addr = advertisedAddr(a)
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: transportTimeout,
		Logger:  logger,
	})
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
type streamLayer struct {
	net.Listener
	addr net.Addr
	dial func(addr string, timeout time.Duration) (net.Conn, error)
}

func (s *streamLayer) Addr() net.Addr { return s.addr }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(addr), timeout)
}

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
