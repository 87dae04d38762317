package broker

// AlterConfigs (key 33), versions 0–2.
//
// The legacy API: the given configs replace the resource's whole set of dynamic configs (any not
// named return to their defaults), which is why clients prefer IncrementalAlterConfigs. Values
// are validated exactly as there; ValidateOnly checks without committing.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(33, 0, 2, (*Broker).handleAlterConfigs) }

func (b *Broker) handleAlterConfigs(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	az := b.checkerFor(r)
	for _, rr := range req.Resources {
		changes := make([]configChange, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			changes = append(changes, configChange{name: c.Name, op: 0, value: c.Value})
		}
		// ALTER_CONFIGS on the topic, or on the cluster for a broker.
		err := az.configResource(acl.OpAlterConfigs, int8(rr.ResourceType), rr.ResourceName)
		if err == nil {
			err = b.alterResource(ctx, int8(rr.ResourceType), rr.ResourceName, changes, true, req.ValidateOnly)
		}
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return wire.Done(resp, nil)
}
