package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// offsetsTopic is Kafka's internal topic for group metadata and committed offsets.
const offsetsTopic = "__consumer_offsets"

// groupConfig is the coordinator's configuration from the broker's properties.
func (b *Broker) groupConfig() group.Config {
	bc := &b.cfg.Broker
	return group.Config{
		NumPartitions:         bc.OffsetsTopicPartitions,
		InitialRebalanceDelay: bc.GroupInitialRebalanceDelay,
		MinSessionTimeout:     bc.GroupMinSessionTimeout,
		MaxSessionTimeout:     bc.GroupMaxSessionTimeout,
		MaxSize:               bc.GroupMaxSize,
		OffsetsRetention:      bc.OffsetsRetention,
		TopicExists: func(topic string, p int32) bool {
			t := b.meta.State().Topics[topic]
			return t != nil && p >= 0 && int(p) < len(t.Partitions)
		},
		// FindCoordinator answers from the newest metadata; the coordinator learns of the same
		// election only once applyMetadata has promoted the replicas.
		Leads: func(p int32) bool {
			t := b.meta.State().Topics[offsetsTopic]
			return t != nil && p >= 0 && int(p) < len(t.Partitions) && t.Partitions[p].Leader == bc.NodeID
		},
		Logger: b.log.With("component", "group"),
	}
}

// ensureOffsetsTopic creates __consumer_offsets on first use, as Kafka does when the first
// FindCoordinator arrives. Its replication factor is offsets.topic.replication.factor capped at
// the number of live brokers: Kafka would instead refuse to create it (and answer
// COORDINATOR_NOT_AVAILABLE forever) on a cluster smaller than the factor, which is exactly the
// one-node developer setup minikraft's default serves.
func (b *Broker) ensureOffsetsTopic(ctx context.Context) (*raftmeta.Topic, error) {
	st := b.meta.State()
	if t := st.Topics[offsetsTopic]; t != nil {
		return t, nil
	}
	bc := &b.cfg.Broker
	rf := bc.OffsetsTopicReplicationFactor
	live := 0
	for _, br := range st.Brokers {
		if !br.Fenced {
			live++
		}
	}
	if rf > live {
		rf = live
	}
	if rf < 1 {
		return nil, kerr.CoordinatorNotAvailable
	}
	t, err := b.createTopic(ctx, controller.TopicSpec{
		Name:              offsetsTopic,
		Partitions:        int32(bc.OffsetsTopicPartitions),
		ReplicationFactor: int16(rf),
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    "104857600",
		},
		Internal: true,
	}, false)
	if err != nil && errorCode(err) != kerr.TopicAlreadyExists.Code {
		return nil, err
	}
	b.applyMetadata(b.meta.State())
	if t == nil {
		t = b.meta.State().Topics[offsetsTopic]
	}
	return t, nil
}

// syncGroupCoordinator tells the coordinator which __consumer_offsets partitions this node now
// leads: it loads the groups of a partition it gained and drops those of one it lost.
func (b *Broker) syncGroupCoordinator(st *raftmeta.State) {
	t := st.Topics[offsetsTopic]
	self := b.cfg.Broker.NodeID
	lead := make(map[int32]bool)
	if t != nil {
		for _, p := range t.Partitions {
			if p.Leader == self {
				lead[p.ID] = true
			}
		}
	}
	for p := range b.ledOffsets {
		if !lead[p] {
			b.groups.Resigned(p)
			delete(b.ledOffsets, p)
		}
	}
	for p := range lead {
		if !b.ledOffsets[p] {
			b.ledOffsets[p] = true
			b.groups.Elected(b.ctx, p)
		}
	}
}

// offsetsStore implements group.Store with the local __consumer_offsets partitions.
type offsetsStore struct{ b *Broker }

// Append writes recs as one batch and waits until the ISR has it, so a commit acknowledged to a
// client survives what an acks=all produce survives.
func (s *offsetsStore) Append(ctx context.Context, part int32, recs []group.Record) error {
	p, _, err := s.b.leaderPartition(offsetsTopic, part)
	if err != nil {
		return err
	}
	kvs := make([]log.KeyValue, len(recs))
	for i, r := range recs {
		kvs[i] = log.KeyValue{Key: r.Key, Value: r.Value}
	}
	batch := log.EncodeBatch(kvs, time.Now().UnixMilli())
	hdrs, err := log.ValidateBatches(batch, len(batch), nil)
	if err != nil {
		return fmt.Errorf("broker: encoding group records: %w", err)
	}
	info, err := p.AppendAsLeader(batch, hdrs, -1)
	if err != nil {
		return err
	}
	return p.WaitForAck(ctx, info.LastOffset)
}

// Replay reads a partition from its start to its log end offset, as Kafka's
// GroupMetadataManager loads (FetchLogEnd): a new leader's high watermark lags the records the
// old leader had already acknowledged (a follower learns the high watermark one fetch later),
// and a leader never truncates its own log.
func (s *offsetsStore) Replay(ctx context.Context, part int32, fn func(group.Record) error) error {
	p, _, err := s.b.leaderPartition(offsetsTopic, part)
	if err != nil {
		return err
	}
	off, end := p.LogStartOffset(), p.LogEndOffset()
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Read as a replica: up to the log end offset, not the high watermark.
		rr, err := p.Read(off, 1<<20, s.b.cfg.Broker.NodeID, -1)
		if err != nil {
			return err
		}
		if len(rr.Records) == 0 {
			break
		}
		last := off
		err = log.EachRecord(rr.Records, func(o int64, key, value []byte) error {
			last = o
			if o < off {
				return nil
			}
			return fn(group.Record{Key: key, Value: value})
		})
		if err != nil {
			return err
		}
		hdr, err := lastBatchEnd(rr.Records)
		if err != nil {
			return err
		}
		off = max(last+1, hdr)
	}
	return nil
}

// lastBatchEnd is the offset after the last batch in data (control and compressed batches
// included, which log.EachRecord skips).
func lastBatchEnd(data []byte) (int64, error) {
	var end int64
	for len(data) > 0 {
		h, err := log.ParseBatchHeader(data)
		if err != nil {
			return 0, err
		}
		end = h.LastOffset() + 1
		if h.Size() > len(data) {
			break
		}
		data = data[h.Size():]
	}
	return end, nil
}
