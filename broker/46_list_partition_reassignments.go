package broker

// ListPartitionReassignments (key 46), version 0 (KIP-455).
//
// The partitions being reassigned, with their replicas (target first, then the ones leaving)
// and the adding and removing replicas; all of them when Topics is null, else those asked for
// that are being reassigned (Kafka leaves out the others, and unknown ones). As in KRaft, the
// active controller answers (the request is forwarded to it), so what it lists includes a
// reassignment made through another node a moment ago.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(46, 0, 0, (*Broker).handleListPartitionReassignments) }

func (b *Broker) handleListPartitionReassignments(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ListPartitionReassignmentsRequest)
	if !b.checkerFor(r).cluster(acl.OpDescribe) { // Kafka: DESCRIBE on the cluster
		out := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		out.ErrorCode = errClusterAuth.Code
		return wire.Done(out, nil)
	}
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	fwd := kmsg.NewPtrListPartitionReassignmentsRequest()
	fwd.TimeoutMillis, fwd.Topics = req.TimeoutMillis, req.Topics
	resp, err := b.callController(ctx, fwd)
	if err != nil {
		out := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		return wire.Done(out, nil)
	}
	return wire.Done(resp, nil)
}

// serveListPartitionReassignments is the controller's side.
func (b *Broker) serveListPartitionReassignments(req *kmsg.ListPartitionReassignmentsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	err := b.activeController()
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp
	}
	all, err := b.ctrl.Reassignments()
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp
	}
	wanted := func(topic string, part int32) bool {
		if req.Topics == nil {
			return true
		}
		for _, t := range req.Topics {
			if t.Topic == topic && slices.Contains(t.Partitions, part) {
				return true
			}
		}
		return false
	}
	for _, ra := range all {
		if !wanted(ra.Topic, ra.Partition) {
			continue
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != ra.Topic {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = ra.Topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		p.Partition = ra.Partition
		p.Replicas, p.AddingReplicas, p.RemovingReplicas = slices.Clone(ra.Replicas), slices.Clone(ra.Adding), slices.Clone(ra.Remove)
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, p)
	}
	return resp
}
