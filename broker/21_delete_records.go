package broker

// DeleteRecords (key 21), versions 0–2.
//
// Moves a partition's log start offset up to the requested offset (-1 means the high watermark).
// An offset above the high watermark is OFFSET_OUT_OF_RANGE; one at or below the current start is
// a no-op that reports the current start. Whole segments below the new start are removed from
// disk; reads and ListOffsets earliest see the new start at once. The answer waits up to
// TimeoutMillis; with replication the low watermark must reach the followers too. With an
// authorizer each topic needs DELETE (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(21, 0, 2, (*Broker).handleDeleteRecords) }

func (b *Broker) handleDeleteRecords(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	az := b.checkerFor(r)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		allowed := az.topic(acl.OpDelete, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			if !allowed {
				sp.ErrorCode = errTopicAuth.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			low, err := b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			sp.ErrorCode = errorCode(err)
			if err == nil {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}

func (b *Broker) deleteRecords(topic string, part int32, offset int64) (int64, error) {
	if isInternalTopic(topic) {
		return 0, kerr.InvalidTopicException
	}
	p, _, err := b.replicas.Leader(topic, part)
	if err != nil {
		return 0, err
	}
	return p.DeleteRecordsBefore(offset)
}
