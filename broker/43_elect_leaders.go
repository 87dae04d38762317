package broker

// ElectLeaders (key 43), versions 0–2.
//
// Preferred elections (type 0, the only type before v1) hand leadership back to each partition's
// first replica when it is a live in-sync replica (PREFERRED_LEADER_NOT_AVAILABLE otherwise,
// ELECTION_NOT_NEEDED when it already leads). Unclean elections (type 1, KIP-460) give a partition
// that has no leader any live replica, accepting data loss. Topics null means every partition.
// The controller decides; this broker forwards and waits for the result to be applied here.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(43, 0, 2, (*Broker).handleElectLeaders) }

func (b *Broker) handleElectLeaders(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	if !b.checkerFor(r).cluster(acl.OpAlter) {
		// Kafka: ALTER on the cluster, else the error at the top (v1+) and on every partition
		// named.
		resp.ErrorCode = errClusterAuth.Code
		for _, rt := range req.Topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, errClusterAuth.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return wire.Done(resp, nil)
	}
	for _, rt := range electionTopics(b.meta.State(), req.Topics) {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			fwd := kmsg.NewPtrElectLeadersRequest()
			fwd.ElectionType, fwd.TimeoutMillis = req.ElectionType, forwardTimeout(ctx, req.TimeoutMillis)
			ft := kmsg.NewElectLeadersRequestTopic()
			ft.Topic, ft.Partitions = rt.Topic, []int32{p}
			fwd.Topics = append(fwd.Topics, ft)
			_, err := b.callController(ctx, fwd)
			sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	b.applyMetadata(b.meta.State())
	return wire.Done(resp, nil)
}

// electionTopics are the partitions an election asks for: every partition of st when topics is
// null.
func electionTopics(st *raftmeta.State, topics []kmsg.ElectLeadersRequestTopic) []kmsg.ElectLeadersRequestTopic {
	if topics != nil {
		return topics
	}
	names := make([]string, 0, len(st.Topics))
	for n := range st.Topics {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic = n
		for _, p := range st.Topics[n].Partitions {
			rt.Partitions = append(rt.Partitions, p.ID)
		}
		topics = append(topics, rt)
	}
	return topics
}
