package broker

// CreatePartitions (key 37), versions 0–3.
//
// Grows a topic to Count partitions; shrinking or an unchanged count is INVALID_PARTITIONS, an
// explicit assignment must list exactly the new partitions with the topic's replication factor
// (INVALID_REPLICA_ASSIGNMENT), a name given twice is INVALID_REQUEST. ValidateOnly checks
// without committing. New partitions start empty with every replica in sync.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(37, 0, 3, (*Broker).handleCreatePartitions) }

func (b *Broker) handleCreatePartitions(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	count := make(map[string]int)
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	az := b.checkerFor(r)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		switch {
		case count[rt.Topic] > 1:
			err = fmt.Errorf("%w: Duplicate topic in request.", kerr.InvalidRequest)
		case !az.topic(acl.OpAlter, rt.Topic): // Kafka: ALTER on the topic
			err = errTopicAuth
		case isInternalTopic(rt.Topic):
			err = fmt.Errorf("%w: Cannot increase the partition count of internal topic %s", kerr.InvalidTopicException, rt.Topic)
		default:
			// With a positive timeout, the controller answers once every broker serves the
			// new partitions (propagation.go).
			fwd := kmsg.NewPtrCreatePartitionsRequest()
			fwd.TimeoutMillis, fwd.ValidateOnly = forwardTimeout(ctx, req.TimeoutMillis), req.ValidateOnly
			ft := kmsg.NewCreatePartitionsRequestTopic()
			ft.Topic, ft.Count, ft.Assignment = rt.Topic, rt.Count, rt.Assignment
			fwd.Topics = append(fwd.Topics, ft)
			_, err = b.callController(ctx, fwd)
			if err == nil && !req.ValidateOnly {
				b.applyMetadata(b.meta.State())
			}
		}
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}
