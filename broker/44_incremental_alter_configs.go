package broker

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// Each config is SET, DELETEd (back to its default), or, for list configs such as
// cleanup.policy, APPENDed to or SUBTRACTed from (KIP-339). The resulting set is validated as a
// whole: an unknown topic config or a bad value is INVALID_CONFIG with Kafka's message, a config
// named twice INVALID_REQUEST, a broker property that cannot change at run time INVALID_REQUEST.
// Changes apply at once on every broker (retention, segment size, min.insync.replicas, ...),
// without a restart.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(44, 0, 1, (*Broker).handleIncrementalAlterConfigs) }

func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	az := b.checkerFor(r)
	for _, rr := range req.Resources {
		changes := make([]configChange, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			changes = append(changes, configChange{name: c.Name, op: int8(c.Op), value: c.Value})
		}
		// ALTER_CONFIGS on the topic, or on the cluster for a broker.
		err := az.configResource(acl.OpAlterConfigs, int8(rr.ResourceType), rr.ResourceName)
		if err == nil {
			err = b.alterResource(ctx, int8(rr.ResourceType), rr.ResourceName, changes, false, req.ValidateOnly)
		}
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return wire.Done(resp, nil)
}
