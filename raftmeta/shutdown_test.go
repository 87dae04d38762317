package raftmeta

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// silentConn is a Raft connection whose peer has gone silent without closing it: what this end
// writes is dropped and nothing is read, as behind a firewall that drops packets.
type silentConn struct {
	net.Conn
	silent *atomic.Bool
	closed atomic.Bool
}

func (c *silentConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (c *silentConn) Write(p []byte) (int, error) {
	if c.silent.Load() && !c.closed.Load() { // a closed socket fails writes, cut or not
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *silentConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if n > 0 && c.silent.Load() {
			continue
		}
		return n, err
	}
}

// TestCloseWithSilentFollower: a leader whose replication pipeline to one follower is full of
// requests that follower will never answer (its connection open, its packets dropped) still
// closes at once. hashicorp/raft waits in Shutdown for the pipeline, whose decoder gives up on
// each of its up to 128 requests only after the transport's 10 s read deadline; Close cuts the
// connections so that the wait ends (a fixture's StopNode hung for 10 minutes on it).
func TestCloseWithSilentFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("several hundred proposals")
	}
	var muxes []*Mux
	var voters []Voter
	for i := range 3 {
		m, addr := newTestMux(t)
		muxes = append(muxes, m)
		voters = append(voters, Voter{ID: int32(i), Addr: addr})
	}
	silent := make([]atomic.Bool, 3) // silent[i]: connections to node i go silent
	var nodes []*Node
	for i, m := range muxes {
		cfg := tcpNodeConfig(m, int32(i), t.TempDir(), voters)
		// A second, not testHeartbeat: 300 proposals on a loaded machine must not cost the
		// leader its lease, and what is tested (Close) does not wait on these timeouts.
		cfg.HeartbeatTimeout, cfg.CommitTimeout = time.Second, testCommit
		cfg.Dial = func(addr string, timeout time.Duration) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := DialTag(ctx, nil, addr, TagRaft, "c1")
			if err != nil {
				return nil, err
			}
			for j, v := range voters {
				if v.Addr == addr {
					return &silentConn{Conn: c, silent: &silent[j]}, nil
				}
			}
			return c, nil
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	leader, _ := proposeOnLeader(t, nodes, AllocateProducerIDs{Count: 1})
	var follower int
	for i, n := range nodes {
		if n != leader {
			follower = i
			break
		}
	}
	silent[follower].Store(true)
	// One proposal at a time, so that each is an AppendEntries of its own on the pipeline to
	// the silent follower: more than its 128 slots.
	for range 300 {
		mustPropose(t, leader, AllocateProducerIDs{Count: 1})
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- leader.Close() }()
	select {
	case err := <-done:
		t.Logf("the leader closed in %v", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatalf("the leader's Close has not returned after 8 s (a follower went silent)")
	}
}
