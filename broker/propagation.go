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
// Each broker reports the metadata index it has applied in a BrokerHeartbeat (tag
// wire.TagMetadataIndex) sent as soon as the index advances (heartbeatLoop), not only every
// broker.heartbeat.interval.ms; the active controller keeps the reports
// (controller.AwaitApplied) and, before it answers the forwarded request that made the change,
// waits until every live broker (registered, unfenced, heard from within two heartbeat
// intervals) has reached the change's index. The wait is bounded by 9/10 of the timeout the
// forwarding broker passed on (what was left of the client's; the rest is for the answer to
// reach the client in time): a broker that does not catch up in time is logged at WARN by the
// controller, and the request answers without it (its change is committed either way). As in
// Kafka, a request with a timeout of 0 or less does not wait.

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

// forwardTimeout is the timeout a forwarded admin request carries to the controller: what is
// left of ctx's deadline when the client gave a positive timeout, else 0 (no propagation wait).
func forwardTimeout(ctx context.Context, clientTimeoutMillis int32) int32 {
	if clientTimeoutMillis <= 0 {
		return 0
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return clientTimeoutMillis
	}
	return int32(max(time.Until(dl).Milliseconds(), 1))
}

// awaitPropagation is the controller's wait, after a change, until every live broker has
// applied the metadata it has now (which includes the change), for at most nine tenths of what
// is left of ctx's deadline. Without a deadline it does not wait.
func (b *Broker) awaitPropagation(ctx context.Context) {
	dl, ok := ctx.Deadline()
	if !ok {
		return
	}
	wait := time.Until(dl) * 9 / 10
	if wait < time.Millisecond {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	idx := b.meta.State().Index
	// A broker that missed two heartbeats is on its way to being fenced (every cluster node
	// shares broker.heartbeat.interval.ms in practice): it is not waited for.
	behind, err := b.ctrl.AwaitApplied(ctx, idx, 2*b.heartbeatInterval())
	if err != nil || b.ctx.Err() != nil {
		return // no longer the controller (the change is committed), or stopping
	}
	for id, applied := range behind {
		b.log.Warn("broker did not apply a metadata change in time; the request answered without it",
			"broker", id, "index", idx, "applied", applied)
	}
}
