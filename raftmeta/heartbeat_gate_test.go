package raftmeta

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestHeartbeatGate: shutting the gate waits for a heartbeat in progress, and a heartbeat after
// it never reaches Raft (whose raft.db is about to close) but is refused.
func TestHeartbeatGate(t *testing.T) {
	g := &gatedTransport{}
	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	h := g.gated(func(rpc raft.RPC) {
		calls++
		if calls == 1 {
			close(entered)
			<-release
		}
		rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
	})
	rpc := func() (raft.RPC, chan raft.RPCResponse) {
		ch := make(chan raft.RPCResponse, 1)
		return raft.RPC{RespChan: ch}, ch
	}

	first, firstResp := rpc()
	go h(first)
	<-entered
	shut := make(chan struct{})
	go func() { g.shutGate(); close(shut) }()
	select {
	case <-shut:
		t.Fatal("the gate shut under a heartbeat in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-shut
	if r := <-firstResp; r.Error != nil {
		t.Fatalf("the heartbeat in progress: %v", r.Error)
	}

	late, lateResp := rpc()
	h(late)
	if r := <-lateResp; !errors.Is(r.Error, raft.ErrTransportShutdown) {
		t.Fatalf("a heartbeat after the gate shut: %v, want ErrTransportShutdown", r.Error)
	}
	if calls != 1 {
		t.Fatalf("Raft's handler ran %d times, want 1", calls)
	}
}
