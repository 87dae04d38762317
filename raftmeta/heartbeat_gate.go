package raftmeta

import (
	"sync"

	"github.com/hashicorp/raft"
)

// gatedTransport is the network transport with a gate on its heartbeat fast path.
// hashicorp/raft answers a heartbeat on the transport's connection goroutine
// (Raft.processHeartbeat), which Raft.Shutdown neither stops nor waits for; such a heartbeat
// saves a newer term and may apply newly committed entries, and raft panics when raft.db fails
// either ("failed to save current term: database not open", seen once in the fixture under
// -race at load 20: it took the whole test process down). Node.Close shuts the gate after Raft's
// shutdown and before it closes raft.db: the gate waits for heartbeats in progress (they return
// promptly once Raft is shut down) and refuses later ones, as a stopped node would.
type gatedTransport struct {
	*raft.NetworkTransport
	mu   sync.RWMutex
	shut bool
}

// SetHeartbeatHandler installs fn behind the gate.
func (g *gatedTransport) SetHeartbeatHandler(fn func(raft.RPC)) {
	if fn == nil {
		g.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	g.NetworkTransport.SetHeartbeatHandler(g.gated(fn))
}

// gated is fn behind the gate.
func (g *gatedTransport) gated(fn func(raft.RPC)) func(raft.RPC) {
	return func(rpc raft.RPC) {
		g.mu.RLock()
		defer g.mu.RUnlock()
		if g.shut {
			rpc.Respond(nil, raft.ErrTransportShutdown)
			return
		}
		fn(rpc)
	}
}

// shutGate waits for the heartbeats in progress to finish and refuses every later one.
func (g *gatedTransport) shutGate() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
}
