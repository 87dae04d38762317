package broker

// CreateAcls (key 30), versions 0–3: SECURITY_DISABLED for every creation, as on a Kafka cluster
// without an authorizer (see 29_describe_acls.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

func init() { register(30, 0, 3, (*Broker).handleCreateAcls) }

func (b *Broker) handleCreateAcls(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	for range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode = kerr.SecurityDisabled.Code
		res.ErrorMessage = &noAuthorizer
		resp.Results = append(resp.Results, res)
	}
	return wire.Done(resp, nil)
}
