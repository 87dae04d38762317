package broker

// CreateAcls (key 30), versions 0–3: see 29_describe_acls.go. Needs ALTER on the cluster
// (CLUSTER_AUTHORIZATION_FAILED for every creation); a binding Kafka refuses (a filter-only
// pattern, operation or permission type, a CLUSTER resource not named kafka-cluster, an empty
// name, a principal that is not Type:Name) is INVALID_REQUEST with Kafka's message; the valid
// ones are forwarded to the active controller and committed together.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(30, 0, 3, (*Broker).handleCreateAcls) }

func (b *Broker) handleCreateAcls(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	fail := func(code int16, msg *string) wire.Future {
		for range req.Creations {
			res := kmsg.NewCreateACLsResponseResult()
			res.ErrorCode, res.ErrorMessage = code, msg
			resp.Results = append(resp.Results, res)
		}
		return wire.Done(resp, nil)
	}
	if req.Version == 0 {
		for i := range req.Creations {
			req.Creations[i].ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
		}
	}
	fwd := *req
	return b.forwardACLChange(ctx, r, &fwd, fail)
}

// forwardACLChange is CreateAcls' and DeleteAcls' common path: with an authorizer and cluster
// ALTER, req goes to the controller, which validates and answers each creation or filter; fail
// answers every one of them when the check or the call fails as a whole.
func (b *Broker) forwardACLChange(ctx context.Context, r *wire.Request, req kmsg.Request, fail func(code int16, msg *string) wire.Future) wire.Future {
	c := b.checkerFor(r)
	switch {
	case !c.enabled():
		return fail(kerr.SecurityDisabled.Code, &noAuthorizer)
	case !c.cluster(acl.OpAlter):
		return fail(errClusterAuth.Code, nil)
	}
	version := req.GetVersion()
	cctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	out, err := b.callController(cctx, req)
	if err != nil && out == nil {
		return fail(errorCode(err), errorMessage(err))
	}
	out.SetVersion(version)
	return wire.Done(out, nil)
}
