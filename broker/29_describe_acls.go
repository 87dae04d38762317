package broker

// DescribeAcls (key 29), versions 0–3.
//
// Without an authorizer (authorizer.class.name empty, Kafka's default) the broker answers, like
// Kafka's, SECURITY_DISABLED with "No Authorizer is configured on the broker", and CreateAcls
// (30) and DeleteAcls (31) the same per creation and per filter: admin tools then report that
// ACLs are off instead of that the broker does not know the API. With one, DescribeAcls needs
// DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED), refuses a filter Kafka cannot read
// (INVALID_REQUEST) and lists the bindings in the metadata that the filter matches, grouped by
// resource pattern. CreateAcls and DeleteAcls need ALTER on the cluster and are forwarded to the
// active controller, which commits them in one raftmeta.AlterACLs each (acls_glue.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(29, 0, 3, (*Broker).handleDescribeAcls) }

// Kafka's messages, word for word: the broker's DescribeAcls says "on the broker", the
// controller's CreateAcls and DeleteAcls (where KRaft forwards them) do not.
var (
	noAuthorizerOnBroker = "No Authorizer is configured on the broker"
	noAuthorizer         = "No Authorizer is configured."
)

func (b *Broker) handleDescribeAcls(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	c := b.checkerFor(r)
	switch {
	case !c.enabled():
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = &noAuthorizerOnBroker
		return wire.Done(resp, nil)
	case !c.cluster(acl.OpDescribe):
		resp.ErrorCode = errClusterAuth.Code
		return wire.Done(resp, nil)
	}
	if req.Version == 0 {
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral // v0 knows only literal names
	}
	f := acl.Filter{
		ResourceType: acl.ResourceType(req.ResourceType), Name: req.ResourceName, Pattern: acl.PatternType(req.ResourcePatternType),
		Principal: req.Principal, Host: req.Host, Operation: acl.Operation(req.Operation), Permission: acl.Permission(req.PermissionType),
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return wire.Done(resp, nil)
	}
	// The bindings come sorted by resource pattern (raftmeta keeps them so): group runs.
	for _, bd := range c.a.Bindings() {
		if !f.Matches(bd) {
			continue
		}
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(bd.ResourceType) ||
			resp.Resources[n-1].ResourceName != bd.Name || resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(bd.Pattern) {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName = kmsg.ACLResourceType(bd.ResourceType), bd.Name
			res.ResourcePatternType = kmsg.ACLResourcePatternType(bd.Pattern)
			resp.Resources = append(resp.Resources, res)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = bd.Principal, bd.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, a)
	}
	return wire.Done(resp, nil)
}
