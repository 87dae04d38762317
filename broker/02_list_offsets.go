package broker

// ListOffsets (key 2), versions 0–7.
//
// Timestamp -2 is the log start offset, -1 the high watermark, or with IsolationLevel 1
// (read_committed, v2+) the last stable offset, -3 (v7+, KIP-734) the record with the largest
// timestamp, and a timestamp t ≥ 0 the first offset whose timestamp is at least t, or -1 when
// there is none below the high watermark (the last stable offset for read_committed: Kafka's
// lastFetchableOffset). v0 answers in OldStyleOffsets. LeaderEpoch is the
// partition's current leader epoch; CurrentLeaderEpoch in the request is checked (KIP-320).
// With an authorizer each topic needs DESCRIBE (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(2, 0, 7, (*Broker).handleListOffsets) }

func (b *Broker) handleListOffsets(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	az := b.checkerFor(r)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		allowed := az.topic(acl.OpDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			if !allowed {
				sp.ErrorCode = errTopicAuth.Code
			} else if err := b.listOffset(rt.Topic, req.IsolationLevel, rp, &sp); err != nil {
				sp.ErrorCode = errorCode(err)
			} else if req.Version == 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
				if rp.MaxNumOffsets <= 0 || sp.Offset < 0 {
					sp.OldStyleOffsets = nil
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}

func (b *Broker) listOffset(topic string, isolation int8, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	p, _, err := b.replicas.Leader(topic, rp.Partition)
	if err != nil {
		return err
	}
	if err := p.CheckLeaderEpoch(rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	_, epoch := p.Leader()
	hw := p.HighWatermark()
	if isolation == partition.ReadCommitted {
		hw = p.LastStableOffset()
	}
	switch ts := rp.Timestamp; {
	case ts == -2:
		sp.Offset = p.LogStartOffset()
	case ts == -1:
		sp.Offset = hw
	case ts == -3:
		off, mts, ok := p.Log().MaxTimestamp()
		if ok && off < hw {
			sp.Offset, sp.Timestamp = off, mts
		}
	case ts >= 0:
		off, fts, ok := p.Log().OffsetForTimestamp(ts)
		if ok && off < hw {
			sp.Offset, sp.Timestamp = off, fts
		}
	default:
		return kerr.InvalidRequest
	}
	if sp.Offset >= 0 {
		sp.LeaderEpoch = epoch
	}
	return nil
}
