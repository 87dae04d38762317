package replica

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/internal/periodic"
)

// isrLoop is the leader side of ISR maintenance: every tick, each partition this node leads
// says whether followers should leave the ISR (no catch-up within replica.lag.time.max.ms) or
// join it (caught up to the high watermark), and the change goes to the controller as an
// AlterPartition. It takes effect when the committed metadata comes back.
//
// A tick walks the registry under its read lock (registry.mu, then each Partition.mu) without
// copying it and allocates nothing for a partition with no change, so a node of 10,000 idle
// partitions spends little on it; the proposals go out after the lock is released.
func (m *Manager) isrLoop() {
	type wanted struct {
		topic  string
		id     int32
		p      *partition.Partition
		change partition.ISRChange
	}
	var wants []wanted
	periodic.Every(m.ctx, isrCheckInterval, func() {
		now := time.Now()
		m.parts.mu.RLock()
		for topic, t := range m.parts.topics {
			for id, lp := range t.parts.all() {
				if change, ok := lp.WantedISRChange(now); ok {
					wants = append(wants, wanted{topic, id, lp.Partition, change})
				}
			}
		}
		m.parts.mu.RUnlock()
		for _, w := range wants {
			m.proposeISR(w.topic, w.id, w.p, w.change)
		}
		clear(wants)
		wants = wants[:0]
	})
}

// isrCheckInterval is how often leaders look at their followers. Kafka checks for lagging
// followers every replica.lag.time.max.ms/2 and expands the ISR as fetches arrive; one short
// tick serves both here.
const isrCheckInterval = 100 * time.Millisecond

// proposeISR sends one partition's wanted ISR change to the controller as an AlterPartition
// (Kafka's AlterPartitionManager sends the same, batched).
func (m *Manager) proposeISR(topic string, id int32, p *partition.Partition, c partition.ISRChange) {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID = c.Leader
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = id, c.LeaderEpoch, c.PartitionEpoch, c.ISR
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	err := m.cfg.Controller.AlterPartition(ctx, req)
	if err != nil {
		p.ISRChangeFailed()
		if m.ctx.Err() == nil {
			m.log.Debug("ISR change refused", "topic", topic, "partition", id, "isr", c.ISR, "err", err)
		}
		return
	}
	// Apply the committed change now rather than at the next metadata tick, so the
	// partition's pending change clears without delay.
	m.Apply(m.cfg.Metadata.State())
}
