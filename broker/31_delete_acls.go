package broker

// DeleteAcls (key 31), versions 0–3: see 29_describe_acls.go. Needs ALTER on the cluster
// (CLUSTER_AUTHORIZATION_FAILED for every filter); a filter with an unknown type is
// INVALID_REQUEST. Forwarded to the active controller, which resolves every filter against its
// metadata and removes all the matching bindings in one commit; each filter's answer lists the
// bindings it matched.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

func init() { register(31, 0, 3, (*Broker).handleDeleteAcls) }

func (b *Broker) handleDeleteAcls(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	fail := func(code int16, msg *string) wire.Future {
		for range req.Filters {
			res := kmsg.NewDeleteACLsResponseResult()
			res.ErrorCode, res.ErrorMessage = code, msg
			resp.Results = append(resp.Results, res)
		}
		return wire.Done(resp, nil)
	}
	if req.Version == 0 {
		for i := range req.Filters {
			req.Filters[i].ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
		}
	}
	fwd := *req
	return b.forwardACLChange(ctx, r, &fwd, fail)
}
