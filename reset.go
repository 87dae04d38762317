package minikraft

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/raftmeta"
)

// Reset puts the cluster back to an empty one without restarting its nodes, so that one cluster
// serves a whole test package: no topic but the internal ones (which are emptied), no group and
// no committed offset, no idempotent producer state, no dynamic config; the same topic names
// can be created again right after and start from offset 0. It returns once every running node
// has applied the reset.
//
// It is one metadata entry (raftmeta.ResetCluster), not a deletion per topic: every node drops
// the partitions of the deleted topics and their data in one pass over the new metadata (their
// files are removed in the background), and re-creates __consumer_offsets empty under a new
// topic id, which its group coordinator takes as a new topic (it drops the groups it held and
// loads none); the node empties its replicas of it in place (truncated to offset 0) rather
// than deleting and creating them. A client that still holds the
// old metadata gets Kafka's errors, never old records: UNKNOWN_TOPIC_OR_PARTITION or
// UNKNOWN_TOPIC_ID for a deleted topic, FENCED_LEADER_EPOCH or OFFSET_OUT_OF_RANGE on a
// re-created one, NOT_COORDINATOR or UNKNOWN_MEMBER_ID from a group coordinator, and an
// idempotent producer's next batch UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE, as after
// Kafka deletes and re-creates a topic.
//
// Reset also ends the fixture's own faults first (ClearInjections, HealAll) and restarts nodes a
// test stopped or killed, so the next test starts with the whole cluster up; then the reset
// hooks of other controls run (see onReset).
func (c *Cluster) Reset(ctx context.Context) error {
	c.ClearInjections()
	c.HealAll()
	for i := range c.nodes {
		if c.Node(i) == nil {
			if err := c.RestartNode(i); err != nil {
				return fmt.Errorf("minikraft: Reset: restarting node %d: %w", i, err)
			}
		}
	}
	idx, err := c.onController(ctx, func(b *broker.Broker) (uint64, error) { return b.ResetCluster(ctx) })
	if err != nil {
		return fmt.Errorf("minikraft: Reset: %w", err)
	}
	if err := c.waitApplied(ctx, idx); err != nil {
		return fmt.Errorf("minikraft: Reset: %w", err)
	}
	c.mu.Lock()
	hooks := c.resetHooks
	c.mu.Unlock()
	for _, h := range hooks {
		if err := h(ctx); err != nil {
			return fmt.Errorf("minikraft: Reset: %w", err)
		}
	}
	return nil
}

// onReset adds a hook that Reset runs after the cluster is empty: the extension point for
// fixture state outside the brokers that a test leaves behind (the recorded history of
// WithHistory, say). Hooks run in the order they were added.
func (c *Cluster) onReset(h func(ctx context.Context) error) {
	c.mu.Lock()
	c.resetHooks = append(c.resetHooks, h)
	c.mu.Unlock()
}

// onController calls f on the node that leads the metadata quorum (the active controller),
// again on the new leader if leadership moves under it, until f succeeds, fails otherwise, or
// ctx ends.
func (c *Cluster) onController(ctx context.Context, f func(*broker.Broker) (uint64, error)) (uint64, error) {
	last := errors.New("no active controller")
	for {
		c.mu.Lock()
		var lead *broker.Broker
		for _, cn := range c.nodes {
			if cn.b != nil && cn.b.Meta().IsLeader() {
				lead = cn.b
				break
			}
		}
		c.mu.Unlock()
		if lead != nil {
			idx, err := f(lead)
			if err == nil {
				return idx, nil
			}
			if !errors.Is(err, raftmeta.ErrNotLeader) {
				return 0, err
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// waitApplied waits until every running node has reconciled its partitions and its group
// coordinator with the metadata up to idx (broker.AppliedIndex). It polls: the wait is a few
// milliseconds, and a broker has no channel for it that another waiter does not consume.
func (c *Cluster) waitApplied(ctx context.Context, idx uint64) error {
	for {
		c.mu.Lock()
		behind, has := int32(-1), uint64(0)
		for _, cn := range c.nodes {
			if cn.b != nil && cn.b.AppliedIndex() < idx {
				behind, has = cn.id, cn.b.AppliedIndex()
				break
			}
		}
		c.mu.Unlock()
		if behind < 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d did not apply metadata index %d (it has %d): %w", behind, idx, has, ctx.Err())
		case <-time.After(100 * time.Microsecond):
		}
	}
}
