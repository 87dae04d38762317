package broker

import (
	"context"
	"time"
)

// Metadata propagation: a request that changed the metadata (CreateTopics, DeleteTopics,
// CreatePartitions, AlterConfigs, IncrementalAlterConfigs) answers only once every live broker
// has applied the change, so that a client that turns to another broker right after the answer
// finds the change there too. Kafka has a window there (its brokers learn the change from the
// metadata log a moment later, 10-20 ms on loopback), and clients that cache a miss trip over
// it (segmentio/kafka-go's Writer caches UNKNOWN_TOPIC_OR_PARTITION); a development cluster
// should not have it.
//
// Each broker reports the metadata index it has applied in a heartbeat sent as soon as the index
// advances (heartbeatLoop), not only every broker.heartbeat.interval.ms; the active controller
// keeps the reports (controller.AwaitApplied) and, asked by the broker that served the request,
// waits until every live broker (registered, unfenced, heard from within two heartbeat
// intervals) has reached the change's index. The wait is
// bounded by the request's timeout: a broker that does not catch up in time is logged at WARN by
// the controller, and the request answers without it (its change is committed either way). As
// in Kafka, a request with a timeout of 0 or less does not wait.

// configPropagationTimeout bounds the wait of a config change: AlterConfigs and
// IncrementalAlterConfigs carry no timeout of their own.
const configPropagationTimeout = 5 * time.Second

// noteApplied records that the local partitions are reconciled with the metadata up to idx and
// wakes the heartbeat loop to report it. Only metadataLoop calls it.
func (b *Broker) noteApplied(idx uint64) {
	if idx <= b.applied.Load() {
		return
	}
	b.applied.Store(idx)
	select {
	case b.appliedCh <- struct{}{}:
	default: // a report is due already; it will carry the latest index
	}
}

// propagate waits until every live broker has applied the metadata this broker has now (which
// includes the changes its caller made), for at most nine tenths of what is left of ctx's
// deadline: the rest is for the answer to reach the client in time. Without a deadline it does
// not wait.
func (b *Broker) propagate(ctx context.Context) {
	dl, ok := ctx.Deadline()
	if !ok {
		return
	}
	wait := time.Until(dl) * 9 / 10
	if wait < time.Millisecond {
		return
	}
	idx := b.meta.State().Index
	err := b.control(ctx, opAwaitApplied, awaitAppliedCall{Index: idx, WaitMillis: wait.Milliseconds()}, nil)
	if err != nil && b.ctx.Err() == nil {
		b.log.Warn("could not wait for the brokers to apply a metadata change", "index", idx, "err", err)
	}
}

// awaitApplied is the controller's side of propagate.
func (b *Broker) awaitApplied(ctx context.Context, in awaitAppliedCall) error {
	if in.WaitMillis <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(in.WaitMillis)*time.Millisecond)
	defer cancel()
	// A broker that missed two heartbeats is on its way to being fenced (every cluster node
	// shares broker.heartbeat.interval.ms in practice): it is not waited for.
	behind, err := b.ctrl.AwaitApplied(ctx, in.Index, 2*b.heartbeatInterval())
	if err != nil {
		return err
	}
	if b.ctx.Err() != nil {
		return nil // stopping: the brokers are not to blame
	}
	for id, applied := range behind {
		b.log.Warn("broker did not apply a metadata change in time; the request answered without it",
			"broker", id, "index", in.Index, "applied", applied)
	}
	return nil
}

// propagateConfigs is propagate for a config change, bounded by configPropagationTimeout.
func (b *Broker) propagateConfigs(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, configPropagationTimeout)
	defer cancel()
	b.propagate(ctx)
}
