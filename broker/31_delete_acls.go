package broker

// DeleteAcls (key 31), versions 0–3: SECURITY_DISABLED for every filter, as on a Kafka cluster
// without an authorizer (see 29_describe_acls.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

func init() { register(31, 0, 3, (*Broker).handleDeleteAcls) }

func (b *Broker) handleDeleteAcls(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode = kerr.SecurityDisabled.Code
		res.ErrorMessage = &noAuthorizer
		resp.Results = append(resp.Results, res)
	}
	return wire.Done(resp, nil)
}
