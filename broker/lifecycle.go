package broker

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/minikraft/minikraft/internal/periodic"
	"github.com/minikraft/minikraft/raftmeta"
)

// The node's background duties, each in its own goroutine started by run:
//   - follow the metadata: reconcile local partitions with every new State (applyMetadata);
//   - as a broker: register with the active controller, then heartbeat, re-registering when the
//     controller no longer knows this incarnation, and heartbeat at once whenever the applied
//     metadata advances (propagation.go);
//   - as the Raft leader: run the controller's liveness tick, which fences brokers whose
//     session lapsed and moves their leaderships.

// run starts the background duties.
func (b *Broker) run() {
	b.goBackground(b.metadataLoop)
	if slices.Contains(b.cfg.Broker.ProcessRoles, "broker") {
		b.goBackground(b.heartbeatLoop)
		b.replicas.Run() // ISR proposals, retention and cleaning
	}
	if slices.Contains(b.cfg.Broker.ProcessRoles, "controller") {
		b.goBackground(b.controllerLoop)
	}
}

func (b *Broker) goBackground(fn func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
}

// waitForMetadata waits until a leader is known and the cluster id checked; a cluster id
// mismatch is fatal.
func (b *Broker) waitForMetadata() bool {
	if err := b.meta.WaitForLeader(b.ctx); err != nil {
		if errors.Is(err, raftmeta.ErrClusterIDMismatch) {
			b.fatal(err)
		}
		return false
	}
	b.joined.Store(true)
	return true
}

// metadataLoop reconciles the local partitions with every newly published State.
func (b *Broker) metadataLoop() {
	if !b.waitForMetadata() {
		return
	}
	for {
		ch := b.meta.Changed()
		st := b.meta.State()
		b.applyMetadata(st)
		b.noteApplied(st.Index)
		select {
		case <-ch:
		case <-b.ctx.Done():
			return
		}
	}
}

// registration is this broker's record for the controller: its advertised endpoints.
func (b *Broker) registration() raftmeta.Broker {
	bc := &b.cfg.Broker
	reg := raftmeta.Broker{ID: bc.NodeID, Rack: bc.Rack, Incarnation: b.incarnation}
	for _, l := range bc.AdvertisedListeners {
		port := l.Port
		if port == 0 {
			// A listener bound to port 0 (tests) advertises the port it actually got.
			if addr, ok := b.ListenerAddr(l.Name); ok {
				if ta, ok := addr.(*net.TCPAddr); ok {
					port = int32(ta.Port)
				}
			}
		}
		reg.Listeners = append(reg.Listeners, raftmeta.Endpoint{
			Name: l.Name, Host: l.Host, Port: port, SecurityProtocol: "PLAINTEXT",
		})
	}
	return reg
}

// heartbeatLoop registers the broker, then heartbeats every broker.heartbeat.interval.ms.
func (b *Broker) heartbeatLoop() {
	if !b.waitForMetadata() {
		return
	}
	interval := b.heartbeatInterval()
	registered := false
	for b.ctx.Err() == nil && !b.stopping.Load() {
		ctx, cancel := context.WithTimeout(b.ctx, max(2*interval, 5*time.Second))
		var err error
		if !registered {
			err = b.control(ctx, opRegisterBroker, b.registration(), nil)
			if err == nil {
				registered = true
				b.registered.Store(true)
				b.log.Debug("broker registered")
				b.startServing()
				cancel()
				continue // heartbeat at once: the registration's effects are applied
			}
		} else {
			off, raftLog := b.meta.MetadataOffset()
			hb := heartbeatCall{ID: b.cfg.Broker.NodeID, Incarnation: b.incarnation, MetadataOffset: int64(off), RaftLog: raftLog,
				Applied: b.applied.Load()}
			err = b.control(ctx, opHeartbeat, hb, nil)
			if errorCode(err) == brokerNotRegisteredCode {
				registered = false
				cancel()
				continue
			}
		}
		cancel()
		if err != nil && b.ctx.Err() == nil {
			b.log.Warn("controller unreachable", "registered", registered, "err", err)
		}
		wait := interval
		var applied <-chan struct{}
		if registered {
			// A newly applied metadata index is reported at once: requests that changed the
			// metadata wait for it (propagation.go).
			applied = b.appliedCh
		} else {
			wait = 100 * time.Millisecond
		}
		select {
		case <-time.After(wait):
		case <-applied:
		case <-b.ctx.Done():
		}
	}
}

// heartbeatInterval is broker.heartbeat.interval.ms.
func (b *Broker) heartbeatInterval() time.Duration {
	if d := b.cfg.Broker.BrokerHeartbeatInterval; d > 0 {
		return d
	}
	return 2 * time.Second
}

// controllerLoop runs the liveness tick while this node leads the quorum, and, with
// auto.leader.rebalance.enable, the preferred-leader rebalance every
// leader.imbalance.check.interval.seconds.
func (b *Broker) controllerLoop() {
	bc := &b.cfg.Broker
	var lastRebalance time.Time
	session := b.cfg.Broker.BrokerSessionTimeout
	if session <= 0 {
		session = 9 * time.Second
	}
	periodic.Every(b.ctx, max(session/8, 20*time.Millisecond), func() {
		if !b.meta.IsLeader() {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, session)
		now := time.Now()
		if err := b.ctrl.Tick(ctx, now, session); err != nil && b.ctx.Err() == nil {
			b.log.Warn("controller liveness tick", "err", err)
		}
		if bc.AutoLeaderRebalance && bc.LeaderImbalanceCheckInterval > 0 && now.Sub(lastRebalance) >= bc.LeaderImbalanceCheckInterval {
			if !lastRebalance.IsZero() {
				if err := b.ctrl.RebalanceLeaders(ctx, leaderImbalancePct); err != nil && b.ctx.Err() == nil {
					b.log.Warn("preferred leader rebalance", "err", err)
				}
			}
			lastRebalance = now
		}
		cancel()
	})
}

// leaderImbalancePct is Kafka's leader.imbalance.per.broker.percentage default.
const leaderImbalancePct = 10

// controlledShutdown asks the controller to move this broker's leaderships elsewhere before it
// stops, as Kafka's controlled shutdown does, so clients fail over at once instead of after a
// session timeout. A lone broker has nowhere to move them and skips it.
func (b *Broker) controlledShutdown() {
	if b.meta == nil || !b.registered.Load() || len(b.meta.State().Brokers) < 2 {
		return
	}
	// No more heartbeats: one after the fence would unfence this broker (the controller also
	// ignores one that crosses the shutdown request).
	b.stopping.Store(true)
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	if err := b.control(ctx, opShutdownBroker, b.cfg.Broker.NodeID, nil); err != nil {
		b.log.Warn("controlled shutdown failed; partitions move after the session timeout", "err", err)
	}
}
