package broker

// OffsetForLeaderEpoch (key 23), versions 0–4.
//
// KIP-101/KIP-279: for a requested epoch, the largest epoch at or below it that this leader knows
// and the offset where the next epoch starts (the log end offset for the current epoch); -1/-1
// (UNDEFINED) when the log has no such epoch. Consumers use it after a leader change to detect
// truncation (KIP-320), followers to find where to truncate. CurrentLeaderEpoch (v2+) is checked:
// older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(23, 0, 4, (*Broker).handleOffsetForLeaderEpoch) }

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	az := b.checkerFor(r)
	// Kafka: a follower's request needs CLUSTER_ACTION on the cluster, a client's DESCRIBE on
	// each topic.
	followerDenied := req.Version >= 3 && req.ReplicaID >= 0 && !az.cluster(acl.OpClusterAction)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		var denied int16
		switch {
		case followerDenied:
			denied = errClusterAuth.Code
		case (req.Version < 3 || req.ReplicaID < 0) && !az.topic(acl.OpDescribe, rt.Topic):
			denied = errTopicAuth.Code
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			if denied != 0 {
				sp.ErrorCode = denied
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, _, err := b.replicas.Leader(rt.Topic, rp.Partition)
			if err == nil {
				err = p.CheckLeaderEpoch(rp.CurrentLeaderEpoch)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = p.Log().EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}
