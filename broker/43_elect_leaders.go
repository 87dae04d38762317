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

	"github.com/minikraft/minikraft/wire"
)

func init() { register(43, 0, 2, (*Broker).handleElectLeaders) }

type electLeaderCall struct {
	Type      int8
	Topic     string
	Partition int32
}

func (b *Broker) handleElectLeaders(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	topics := req.Topics
	if topics == nil {
		st := b.meta.State()
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
	}
	for _, rt := range topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			err := b.control(ctx, opElectLeader, electLeaderCall{Type: req.ElectionType, Topic: rt.Topic, Partition: p}, nil)
			sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	b.applyMetadata(b.meta.State())
	return wire.Done(resp, nil)
}
