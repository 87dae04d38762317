package broker

// AlterPartitionReassignments (key 45), version 0 (KIP-455; kafka-reassign-partitions).
//
// Each partition gets a target replica list, or null to cancel its reassignment; the active
// controller starts it (see controller/reassign.go for how it proceeds and completes) and
// answers per partition: INVALID_REPLICA_ASSIGNMENT for an empty list, a broker named twice or
// an unregistered broker, NO_REASSIGNMENT_IN_PROGRESS for cancelling none,
// UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist. The request's TimeoutMillis
// bounds the whole.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(45, 0, 0, (*Broker).handleAlterPartitionReassignments) }

func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	if !b.checkerFor(r).cluster(acl.OpAlter) { // Kafka: ALTER on the cluster
		resp.ErrorCode = errClusterAuth.Code
		return wire.Done(resp, nil)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			// kmsg decodes a null list as nil and an empty one as empty: cancel and invalid.
			fwd := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			fwd.TimeoutMillis = forwardTimeout(ctx, req.TimeoutMillis)
			ft := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			ft.Topic = rt.Topic
			ft.Partitions = append(ft.Partitions, rp)
			fwd.Topics = append(fwd.Topics, ft)
			_, err := b.callController(ctx, fwd)
			sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}
