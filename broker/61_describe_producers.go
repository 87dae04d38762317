package broker

// DescribeProducers (key 61), version 0 (KIP-664; `kafka-transactions describe-producers`).
//
// The producers a replica of the partition remembers: producer id, epoch, the last sequence and
// the last batch's max timestamp it wrote, the coordinator epoch of its last transaction marker
// (-1 if none) and the first offset of its open transaction (-1 if none: what
// `kafka-transactions find-hanging` and `abort` look at).
// Any local replica answers, leader or follower (kafka-transactions describe-producers
// --broker-id asks a chosen one), as Kafka's Partition.activeProducerState does; a broker with
// no replica of it answers NOT_LEADER_OR_FOLLOWER, and an unknown partition is
// UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(61, 0, 0, (*Broker).handleDescribeProducers) }

func (b *Broker) handleDescribeProducers(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	az := b.checkerFor(r)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		allowed := az.topic(acl.OpRead, rt.Topic) // Kafka: READ on the topic
		for _, id := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = id
			if !allowed {
				sp.ErrorCode = errTopicAuth.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, _, err := b.replicas.Local(rt.Topic, id)
			if err == nil {
				var states []partition.ProducerState
				if states, err = p.ActiveProducers(); err == nil {
					for _, ps := range states {
						ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
						ap.ProducerID, ap.ProducerEpoch = ps.ProducerID, int32(ps.ProducerEpoch)
						ap.LastSequence, ap.LastTimestamp = ps.LastSequence, ps.LastTimestamp
						ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.CoordinatorEpoch, ps.CurrentTxnStartOffset
						sp.ActiveProducers = append(sp.ActiveProducers, ap)
					}
				}
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}
