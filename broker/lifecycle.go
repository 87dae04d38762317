package broker

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/internal/periodic"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// The node's background duties, each in its own goroutine started by run:
//   - follow the metadata: reconcile local partitions with every new State (applyMetadata);
//   - as a broker: register with the active controller (BrokerRegistration), then heartbeat
//     (BrokerHeartbeat), re-registering when the controller no longer knows this registration,
//     and heartbeat at once whenever the applied metadata advances (propagation.go);
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

// waitForOwnRegistration waits until this node's metadata has applied its registration (the
// State's index reaches the broker epoch, which is the registration's Raft index), so that it
// serves clients with the ACLs, SCRAM credentials and topics committed before it. The controller
// answers the registration once it is committed, and a node restarted on an old log may not have
// applied that far yet: it would answer from an older State (an ACL-holding client refused, a
// topic unknown). Kafka's broker likewise opens its listeners only once its metadata has caught
// up after registering. It returns false when the node stops first.
func (b *Broker) waitForOwnRegistration() bool {
	return b.meta.WaitForIndex(b.ctx, uint64(b.brokerEpoch.Load())) == nil
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

// registration is this broker's BrokerRegistration: its incarnation and advertised endpoints.
func (b *Broker) registration() *kmsg.BrokerRegistrationRequest {
	bc := &b.cfg.Broker
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = bc.NodeID, b.clusterID(), b.incarnation
	if bc.Rack != "" {
		req.Rack = kmsg.StringPtr(bc.Rack)
	}
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
		rl := kmsg.NewBrokerRegistrationRequestListener()
		proto, _ := bc.SecurityProtocol(l.Name)
		rl.Name, rl.Host, rl.Port, rl.SecurityProtocol = l.Name, l.Host, uint16(port), securityProtocolID(proto)
		req.Listeners = append(req.Listeners, rl)
	}
	return req
}

// heartbeat is this broker's BrokerHeartbeat: its metadata offset (CurrentMetadataOffset, with
// wire.TagRaftLogOffset on a voter) and the index its partitions are reconciled with
// (wire.TagMetadataIndex, for propagation.go).
func (b *Broker) heartbeat() *kmsg.BrokerHeartbeatRequest {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = b.cfg.Broker.NodeID, b.brokerEpoch.Load()
	off, raftLog := b.meta.MetadataOffset()
	req.CurrentMetadataOffset = int64(off)
	if raftLog {
		req.UnknownTags.Set(wire.TagRaftLogOffset, nil)
	}
	wire.SetUint64Tag(&req.UnknownTags, wire.TagMetadataIndex, b.applied.Load())
	return req
}

// heartbeatLoop registers the broker, then heartbeats every broker.heartbeat.interval.ms.
func (b *Broker) heartbeatLoop() {
	if !b.waitForMetadata() {
		return
	}
	interval := b.heartbeatInterval()
	registered := false
	// retry is the wait after a failed registration: short at first, since the first attempt
	// often reaches a leader that has not yet caught up its State (a few milliseconds), and
	// doubling up to 100 ms, so that an unreachable controller is not asked in a tight loop.
	retry := registerRetryMin
	for b.ctx.Err() == nil && !b.stopping.Load() {
		ctx, cancel := context.WithTimeout(b.ctx, max(2*interval, 5*time.Second))
		var err error
		if !registered {
			var resp kmsg.Response
			resp, err = b.callController(ctx, b.registration())
			if err == nil {
				b.brokerEpoch.Store(resp.(*kmsg.BrokerRegistrationResponse).BrokerEpoch)
				registered = true
				b.registered.Store(true)
				b.log.Debug("broker registered", "epoch", b.brokerEpoch.Load())
				b.goBackground(b.serveAfterScramBootstrap)
				cancel()
				continue // heartbeat at once: the registration's effects are applied
			}
		} else {
			_, err = b.callController(ctx, b.heartbeat())
			if errors.Is(err, kerr.BrokerIDNotRegistered) || errors.Is(err, kerr.StaleBrokerEpoch) {
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
			wait = retry
			retry = min(2*retry, registerRetryMax)
		}
		select {
		case <-time.After(wait):
		case <-applied:
		case <-b.ctx.Done():
		}
	}
}

// The bounds of the wait between two failed registrations (heartbeatLoop).
const (
	registerRetryMin = 5 * time.Millisecond
	registerRetryMax = 100 * time.Millisecond
)

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
	// KRaft's controlled shutdown: a heartbeat that wants to shut down, answered once the
	// controller moved this broker's leaderships and fenced it.
	req := b.heartbeat()
	req.WantShutdown = true
	resp, err := b.callController(ctx, req)
	if err == nil && !resp.(*kmsg.BrokerHeartbeatResponse).ShouldShutdown {
		err = errors.New("the controller did not agree to the shutdown")
	}
	if err != nil {
		b.log.Warn("controlled shutdown failed; partitions move after the session timeout", "err", err)
	}
}
