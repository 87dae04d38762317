package broker

import (
	"context"
	"time"

	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/internal/periodic"
)

// isrLoop is the leader side of ISR maintenance: every tick, each partition this node leads
// says whether followers should leave the ISR (no catch-up within replica.lag.time.max.ms) or
// join it (caught up to the high watermark), and the change goes to the controller as an
// AlterPartition. It takes effect when the committed metadata comes back.
func (b *Broker) isrLoop() {
	periodic.Every(b.ctx, isrCheckInterval, func() {
		now := time.Now()
		for topic, tp := range b.parts.all() {
			for id, lp := range tp {
				change, ok := lp.WantedISRChange(now)
				if !ok {
					continue
				}
				b.proposeISR(topic, id, lp.Partition, change)
			}
		}
	})
}

// isrCheckInterval is how often leaders look at their followers. Kafka checks for lagging
// followers every replica.lag.time.max.ms/2 and expands the ISR as fetches arrive; one short
// tick serves both here.
const isrCheckInterval = 100 * time.Millisecond

type alterPartitionCall struct {
	Topic          string
	Partition      int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

func (b *Broker) proposeISR(topic string, id int32, p *partition.Partition, c partition.ISRChange) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	err := b.control(ctx, opAlterPartition, alterPartitionCall{
		Topic: topic, Partition: id, Leader: c.Leader, LeaderEpoch: c.LeaderEpoch,
		PartitionEpoch: c.PartitionEpoch, ISR: c.ISR,
	}, nil)
	if err != nil {
		p.ISRChangeFailed()
		if b.ctx.Err() == nil {
			b.log.Debug("ISR change refused", "topic", topic, "partition", id, "isr", c.ISR, "err", err)
		}
		return
	}
	// Apply the committed change now rather than at the next metadata tick, so the
	// partition's pending change clears without delay.
	b.applyMetadata(b.meta.State())
}
