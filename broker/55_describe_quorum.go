package broker

// DescribeQuorum (key 55), versions 0–1.
//
// The metadata quorum, as `kafka-metadata-quorum describe --status/--replication` shows it: the
// Raft leader and term (the leader epoch), the commit index (the high watermark) and, per voter
// and per observer (broker-only node), the metadata offset it has and when it last reported
// (v1's LastFetchTimestamp and LastCaughtUpTimestamp). As in KRaft, a broker forwards the request
// to the active controller, which answers from its view (see controller/quorum.go for where the
// followers' offsets come from). The only partition there is __cluster_metadata-0; asking for
// another is UNKNOWN_TOPIC_OR_PARTITION for it, as Kafka's KafkaRaftClient answers.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(55, 0, 1, (*Broker).handleDescribeQuorum) }

const metadataTopic = "__cluster_metadata"

func (b *Broker) handleDescribeQuorum(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeQuorumRequest)
	if !b.checkerFor(r).cluster(acl.OpDescribe) { // Kafka: DESCRIBE on the cluster
		out := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
		out.ErrorCode = errClusterAuth.Code
		return wire.Done(out, nil)
	}
	if resp, ok := unknownQuorumPartitions(req); !ok {
		return wire.Done(resp, nil)
	}
	// The request has no timeout of its own; the client's request timeout is 30 s by default.
	ctx, cancel := context.WithTimeout(ctx, describeQuorumTimeout)
	defer cancel()
	fwd := kmsg.NewPtrDescribeQuorumRequest()
	fwd.Topics = req.Topics
	resp, err := b.callController(ctx, fwd)
	if err != nil {
		out := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		return wire.Done(out, nil)
	}
	return wire.Done(resp, nil)
}

const describeQuorumTimeout = 15 * time.Second

// unknownQuorumPartitions answers a request that asks for anything but __cluster_metadata-0;
// ok is true when the request asks for exactly that.
func unknownQuorumPartitions(req *kmsg.DescribeQuorumRequest) (resp *kmsg.DescribeQuorumResponse, ok bool) {
	if len(req.Topics) == 1 && req.Topics[0].Topic == metadataTopic &&
		len(req.Topics[0].Partitions) == 1 && req.Topics[0].Partitions[0].Partition == 0 {
		return nil, true
	}
	resp = req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeQuorumResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeQuorumResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicOrPartition.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, false
}

// describeQuorumResponse fills resp with the controller's description of the quorum.
func describeQuorumResponse(resp *kmsg.DescribeQuorumResponse, d controller.QuorumDescription) {
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = metadataTopic
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	rp.LeaderID, rp.LeaderEpoch, rp.HighWatermark = d.LeaderID, d.LeaderEpoch, d.HighWatermark
	rp.CurrentVoters = replicaStates(d.Voters)
	rp.Observers = replicaStates(d.Observers)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
}

func replicaStates(rs []controller.ReplicaProgress) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(rs))
	for _, r := range rs {
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID, s.LogEndOffset, s.LastFetchTimestamp, s.LastCaughtUpTimestamp = r.ID, r.LogEndOffset, r.LastFetch, r.LastCaughtUp
		out = append(out, s)
	}
	return out
}
