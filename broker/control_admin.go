package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/raftmeta"
)

// The controller's side of the forwarded admin requests (control.go). The forwarding broker has
// validated what depends on its own view and config; the controller re-checks what it decides
// (existence, placement, fencing) and commits. A change made with a positive timeout is
// answered once every live broker has applied it, or 9/10 of the timeout passed
// (propagation.go).

func (b *Broker) serveCreateTopics(ctx context.Context, r *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	active := b.activeController()
	changed := false
	for _, rt := range r.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		err := active
		var t *raftmeta.Topic
		if err == nil {
			var spec controller.TopicSpec
			if spec, err = b.topicSpecFromRequest(rt); err == nil {
				spec.Internal = isInternalTopic(spec.Name)
				t, err = b.ctrl.CreateTopic(ctx, spec, r.ValidateOnly)
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			changed = changed || !r.ValidateOnly
			st.TopicID = t.ID
			st.NumPartitions = int32(len(t.Partitions))
			if len(t.Partitions) > 0 {
				st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if changed && r.TimeoutMillis > 0 {
		b.awaitPropagation(ctx)
	}
	return resp
}

func (b *Broker) serveDeleteTopics(ctx context.Context, r *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	active := b.activeController()
	changed := false
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		err := active
		if err == nil && (rt.Topic == nil || *rt.Topic == "") {
			err = fmt.Errorf("%w: the controller deletes topics by name", kerr.InvalidRequest)
		}
		if err == nil {
			err = b.ctrl.DeleteTopic(ctx, *rt.Topic)
		}
		changed = changed || err == nil
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	if changed && r.TimeoutMillis > 0 {
		b.awaitPropagation(ctx)
	}
	return resp
}

func (b *Broker) serveCreatePartitions(ctx context.Context, r *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	active := b.activeController()
	changed := false
	for _, rt := range r.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := active
		if err == nil {
			var assignment [][]int32
			for _, a := range rt.Assignment {
				assignment = append(assignment, a.Replicas)
			}
			err = b.ctrl.CreatePartitions(ctx, rt.Topic, rt.Count, assignment, r.ValidateOnly)
		}
		changed = changed || (err == nil && !r.ValidateOnly)
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	if changed && r.TimeoutMillis > 0 {
		b.awaitPropagation(ctx)
	}
	return resp
}

// serveIncrementalAlterConfigs commits SET and DELETE operations: the forwarding broker resolves
// APPEND and SUBTRACT against the effective values (which depend on its own config) and sends
// the result as SETs, and sends the legacy AlterConfigs' replacement of the whole set as SETs of
// the new values and DELETEs of the others.
func (b *Broker) serveIncrementalAlterConfigs(ctx context.Context, r *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	active := b.activeController()
	changed := false
	for _, rr := range r.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := active
		cmd := raftmeta.AlterConfigs{
			Resource: raftmeta.ConfigResource{Type: int8(rr.ResourceType), Name: rr.ResourceName},
			Set:      make(map[string]string),
		}
		for _, c := range rr.Configs {
			switch {
			case err != nil:
			case c.Op == kmsg.IncrementalAlterConfigOpSet && c.Value != nil:
				cmd.Set[c.Name] = *c.Value
			case c.Op == kmsg.IncrementalAlterConfigOpDelete:
				cmd.Delete = append(cmd.Delete, c.Name)
			default:
				err = fmt.Errorf("%w: the controller takes SET with a value and DELETE only (config %s)", kerr.InvalidRequest, c.Name)
			}
		}
		if err == nil && !r.ValidateOnly {
			err = b.ctrl.AlterConfigs(ctx, cmd)
			changed = changed || err == nil
		}
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	if changed {
		// IncrementalAlterConfigs carries no timeout of its own.
		ctx, cancel := context.WithTimeout(ctx, configPropagationTimeout)
		defer cancel()
		b.awaitPropagation(ctx)
	}
	return resp
}

func (b *Broker) serveElectLeaders(ctx context.Context, r *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	if err := b.activeController(); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	for _, rt := range electionTopics(b.meta.State(), r.Topics) {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			err := b.ctrl.ElectLeader(ctx, r.ElectionType, rt.Topic, p)
			sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) serveAlterPartitionAssignments(ctx context.Context, r *kmsg.AlterPartitionAssignmentsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	if err := b.activeController(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp
	}
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			// kmsg decodes a null list as nil and an empty one as empty: cancel and invalid.
			err := b.ctrl.AlterReassignment(ctx, rt.Topic, rp.Partition, rp.Replicas)
			sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
