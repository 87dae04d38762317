package minikraft

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// errIsolated is what a dial across a cut link returns, and what a connection that lost bytes to
// a cut returns once the cut is healed.
var errIsolated = errors.New("minikraft: link cut by the test fixture")

// faultNet is the fixture's view of the links between nodes. Every inter-node connection (Raft,
// control calls, replica fetches) is dialled through it and wrapped at the dialling end, which
// sees both directions of the connection: its writes go to the listening node, its reads come
// from it. Clients dial the nodes themselves and are never cut.
//
// A cut is directed: cut {from, to} means that nothing from sends reaches to.
//   - Cut both ways (Isolate, Partition), a link is down: dials between the two fail at once and
//     their open connections are closed, as when a cable is pulled and both ends notice.
//   - Cut one way (PartitionOneWay), connections are still made and stay open, but every byte
//     from sends to to is dropped: on connections from dialled, its writes vanish (the write
//     succeeds, as a write into a socket's buffer does); on connections to dialled, to reads
//     nothing more. So to's requests reach from and from acts on them, but to never gets an
//     answer; from's requests never reach to. Both ends see only timeouts, as behind a
//     firewall that drops one direction's packets.
//
// A connection that lost bytes is closed when its cut is healed: its byte stream has a hole,
// and the frames after it would be garbage. Its owner reconnects, as after any network error.
type faultNet struct {
	mu     sync.Mutex
	byAddr map[string]int32 // listener address → node id
	ids    []int32          // every node
	cuts   map[link]bool
	conns  map[*trackedConn]struct{}
}

// link is one direction between two nodes: bytes from → to.
type link struct{ from, to int32 }

type trackedConn struct {
	net.Conn
	from, to int32 // the dialling node and the listening one
	n        *faultNet
	once     sync.Once

	// Set by faultNet.apply from the cuts: the bytes this end writes are lost (dropOut) or the
	// bytes it reads are (dropIn).
	dropOut, dropIn atomic.Bool
	// A direction that lost bytes is poisoned: after the cut it fails rather than carry on.
	outLost, inLost atomic.Bool
	closed          atomic.Bool
}

func (c *trackedConn) Write(p []byte) (int, error) {
	// A closed socket fails writes, cut or not: a writer that went on "succeeding" into a
	// connection it closed would never learn that it is gone (hashicorp/raft's pipeline then
	// filled its buffers and blocked Shutdown).
	if c.dropOut.Load() && !c.closed.Load() {
		c.outLost.Store(true)
		return len(p), nil
	}
	if c.outLost.Load() {
		return 0, errIsolated
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Read(p []byte) (int, error) {
	for {
		k, err := c.Conn.Read(p)
		if k > 0 && (c.dropIn.Load() || c.inLost.Load()) {
			c.inLost.Store(true)
			if !c.dropIn.Load() {
				return 0, errIsolated // healed since: the stream has a hole
			}
			if err != nil {
				return 0, err
			}
			continue // lost on the way: wait for more, as a reader behind the cut would
		}
		return k, err
	}
}

func (c *trackedConn) Close() error {
	c.closed.Store(true)
	c.once.Do(func() {
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}

func newFaultNet() *faultNet {
	return &faultNet{byAddr: map[string]int32{}, cuts: map[link]bool{}, conns: map[*trackedConn]struct{}{}}
}

func (n *faultNet) addNode(id int32, addrs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ids = append(n.ids, id)
	for _, a := range addrs {
		n.byAddr[a] = id
	}
}

// down reports whether the link between a and b is cut both ways. Called with n.mu held.
func (n *faultNet) down(a, b int32) bool {
	return n.cuts[link{a, b}] && n.cuts[link{b, a}]
}

// dialer returns the dial function of node from.
func (n *faultNet) dialer(from int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.byAddr[addr]
		if known && n.down(from, to) {
			n.mu.Unlock()
			return nil, errIsolated
		}
		n.mu.Unlock()
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !known || from == to {
			return c, err
		}
		tc := &trackedConn{Conn: c, from: from, to: to, n: n}
		n.mu.Lock()
		if n.down(from, to) { // cut while we dialled
			n.mu.Unlock()
			c.Close()
			return nil, errIsolated
		}
		tc.dropOut.Store(n.cuts[link{from, to}])
		tc.dropIn.Store(n.cuts[link{to, from}])
		n.conns[tc] = struct{}{}
		n.mu.Unlock()
		return tc, nil
	}
}

// change edits the cuts under the lock, then brings every open connection in line with them.
func (n *faultNet) change(edit func(cuts map[link]bool)) {
	n.mu.Lock()
	edit(n.cuts)
	var doomed []*trackedConn
	for c := range n.conns {
		out, in := n.cuts[link{c.from, c.to}], n.cuts[link{c.to, c.from}]
		if (out && in) || (c.outLost.Load() && !out) || (c.inLost.Load() && !in) {
			doomed = append(doomed, c)
			continue
		}
		c.dropOut.Store(out)
		c.dropIn.Store(in)
	}
	n.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

// cut cuts every link from a node of from to a node of to (both ways if twoWay).
func (n *faultNet) cut(from, to []int32, twoWay bool) {
	n.change(func(cuts map[link]bool) {
		for _, a := range from {
			for _, b := range to {
				if a == b {
					continue
				}
				cuts[link{a, b}] = true
				if twoWay {
					cuts[link{b, a}] = true
				}
			}
		}
	})
}

// isolate cuts every link of node id, both ways.
func (n *faultNet) isolate(id int32) {
	n.mu.Lock()
	others := append([]int32(nil), n.ids...)
	n.mu.Unlock()
	n.cut([]int32{id}, others, true)
}

// heal ends every cut to or from node id.
func (n *faultNet) heal(id int32) {
	n.change(func(cuts map[link]bool) {
		for l := range cuts {
			if l.from == id || l.to == id {
				delete(cuts, l)
			}
		}
	})
}

// healAll ends every cut.
func (n *faultNet) healAll() {
	n.change(func(cuts map[link]bool) { clear(cuts) })
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
