package minikraft

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/minikraft/minikraft/broker"
)

// nodeLinks are one node's own links to the other nodes, for the test admin endpoint of a node
// that runs alone in its process (the binary): every connection the node dials to another node
// (Raft, control calls, replica fetches) goes through it, and a cut link refuses new dials and
// closes the connections it dialled. The connections other nodes dial to it are theirs: a
// partition between two processes is cut on both of them.
type nodeLinks struct {
	voters map[string]int32 // controller.quorum.voters: address → node id

	mu      sync.Mutex // leaf
	b       *broker.Broker
	blocked map[int32]bool
	conns   map[*linkConn]int32
}

var errLinkCut = errors.New("minikraft: link cut by the test admin endpoint")

func newNodeLinks(voters string) *nodeLinks {
	l := &nodeLinks{voters: map[string]int32{}, blocked: map[int32]bool{}, conns: map[*linkConn]int32{}}
	for _, v := range strings.Split(voters, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(v), "@")
		if n, err := strconv.Atoi(id); ok && err == nil {
			l.voters[addr] = int32(n)
		}
	}
	return l
}

// nodeOf is the node an address belongs to: a voter's controller address, or a listener a
// broker registered.
func (l *nodeLinks) nodeOf(addr string) (int32, bool) {
	if id, ok := l.voters[addr]; ok {
		return id, true
	}
	l.mu.Lock()
	b := l.b
	l.mu.Unlock()
	if b == nil {
		return 0, false
	}
	for id, br := range b.Meta().State().Brokers {
		for _, ep := range br.Listeners {
			if net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))) == addr {
				return id, true
			}
		}
	}
	return 0, false
}

// dial is the node's dialer (broker.Config.Dial).
func (l *nodeLinks) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	id, known := l.nodeOf(addr)
	l.mu.Lock()
	cut := known && l.blocked[id]
	l.mu.Unlock()
	if cut {
		return nil, errLinkCut
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil || !known {
		return c, err
	}
	lc := &linkConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blocked[id] {
		c.Close()
		return nil, errLinkCut
	}
	l.conns[lc] = id
	return lc, nil
}

// cut blocks the links to nodes and closes the connections dialled over them.
func (l *nodeLinks) cut(nodes []int32) {
	l.mu.Lock()
	var doomed []*linkConn
	for _, id := range nodes {
		l.blocked[id] = true
	}
	for c, id := range l.conns {
		if l.blocked[id] {
			doomed = append(doomed, c)
		}
	}
	l.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

// heal unblocks the links to nodes, or every link when nodes is empty.
func (l *nodeLinks) heal(nodes []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(nodes) == 0 {
		clear(l.blocked)
	}
	for _, id := range nodes {
		delete(l.blocked, id)
	}
}

func (l *nodeLinks) cutNodes() []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []int32{}
	for id := range l.blocked {
		out = append(out, id)
	}
	return out
}

type linkConn struct {
	net.Conn
	l    *nodeLinks
	once sync.Once
}

func (c *linkConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
