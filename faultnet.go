package minikraft

import (
	"context"
	"errors"
	"net"
	"sync"
)

// errIsolated is what a dial across a cut link returns.
var errIsolated = errors.New("minikraft: link cut by the test fixture")

// faultNet is the fixture's view of the links between nodes. Every inter-node connection (Raft,
// control calls, replica fetches) is dialled through it, so it can refuse new connections and
// close existing ones between an isolated node and the rest.
type faultNet struct {
	mu       sync.Mutex
	byAddr   map[string]int32 // listener address → node id
	isolated map[int32]bool
	conns    map[*trackedConn]struct{}
}

type trackedConn struct {
	net.Conn
	from, to int32
	n        *faultNet
	once     sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}

func newFaultNet() *faultNet {
	return &faultNet{byAddr: map[string]int32{}, isolated: map[int32]bool{}, conns: map[*trackedConn]struct{}{}}
}

func (n *faultNet) addNode(id int32, addrs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		n.byAddr[a] = id
	}
}

func (n *faultNet) cut(from, to int32) bool {
	return from != to && (n.isolated[from] || n.isolated[to])
}

// dialer returns the dial function of node from.
func (n *faultNet) dialer(from int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.byAddr[addr]
		if known && n.cut(from, to) {
			n.mu.Unlock()
			return nil, errIsolated
		}
		n.mu.Unlock()
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !known {
			return c, err
		}
		tc := &trackedConn{Conn: c, from: from, to: to, n: n}
		n.mu.Lock()
		if n.cut(from, to) { // isolated while we dialled
			n.mu.Unlock()
			c.Close()
			return nil, errIsolated
		}
		n.conns[tc] = struct{}{}
		n.mu.Unlock()
		return tc, nil
	}
}

// isolate cuts (or restores) every link of node id.
func (n *faultNet) isolate(id int32, on bool) {
	n.mu.Lock()
	n.isolated[id] = on
	var doomed []*trackedConn
	if on {
		for c := range n.conns {
			if c.from == id || c.to == id {
				doomed = append(doomed, c)
			}
		}
	}
	n.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

func (n *faultNet) closeAll() {
	n.mu.Lock()
	var all []*trackedConn
	for c := range n.conns {
		all = append(all, c)
	}
	n.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
