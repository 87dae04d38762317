package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/raftmeta"
)

// The controller's side of CreateAcls and DeleteAcls (forwarded as themselves, control.go):
// Kafka's AclControlManager. The forwarding broker has checked ALTER on the cluster.

// serveCreateACLs validates each creation and commits the valid ones in one AlterACLs. Creating
// a binding that exists succeeds and changes nothing, as in Kafka.
func (b *Broker) serveCreateACLs(ctx context.Context, r *kmsg.CreateACLsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	active := b.activeController()
	var cmd raftmeta.AlterACLs
	results := make([]kmsg.CreateACLsResponseResult, len(r.Creations))
	for i, cr := range r.Creations {
		results[i] = kmsg.NewCreateACLsResponseResult()
		bd := acl.Binding{
			ResourceType: acl.ResourceType(cr.ResourceType), Name: cr.ResourceName, Pattern: acl.PatternType(cr.ResourcePatternType),
			Principal: cr.Principal, Host: cr.Host, Operation: acl.Operation(cr.Operation), Permission: acl.Permission(cr.PermissionType),
		}
		switch err := bd.Validate(); {
		case active != nil:
			results[i].ErrorCode, results[i].ErrorMessage = errorCode(active), errorMessage(active)
		case err != nil:
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		default:
			cmd.Add = append(cmd.Add, aclOf(bd))
		}
	}
	if len(cmd.Add) > 0 {
		if err := b.ctrl.AlterACLs(ctx, cmd); err != nil {
			for i := range results {
				if results[i].ErrorCode == 0 {
					results[i].ErrorCode, results[i].ErrorMessage = errorCode(err), errorMessage(err)
				}
			}
		}
	}
	resp.Results = results
	return resp
}

// serveDeleteACLs resolves every filter against the current metadata and removes all the
// bindings they match in one AlterACLs (Kafka's deleteAcls is atomic over the request too).
func (b *Broker) serveDeleteACLs(ctx context.Context, r *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	active := b.activeController()
	var cmd raftmeta.AlterACLs
	removed := map[raftmeta.ACL]bool{}
	st := b.meta.State()
	for _, f := range r.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		filter := acl.Filter{
			ResourceType: acl.ResourceType(f.ResourceType), Name: f.ResourceName, Pattern: acl.PatternType(f.ResourcePatternType),
			Principal: f.Principal, Host: f.Host, Operation: acl.Operation(f.Operation), Permission: acl.Permission(f.PermissionType),
		}
		if active != nil {
			res.ErrorCode, res.ErrorMessage = errorCode(active), errorMessage(active)
		} else if err := filter.Validate(); err != nil {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		} else {
			for _, a := range st.ACLs {
				bd := bindingOf(a)
				if !filter.Matches(bd) {
					continue
				}
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName = kmsg.ACLResourceType(bd.ResourceType), bd.Name
				m.ResourcePatternType = kmsg.ACLResourcePatternType(bd.Pattern)
				m.Principal, m.Host = bd.Principal, bd.Host
				m.Operation, m.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
				res.MatchingACLs = append(res.MatchingACLs, m)
				if !removed[a] {
					removed[a] = true
					cmd.Remove = append(cmd.Remove, a)
				}
			}
		}
		resp.Results = append(resp.Results, res)
	}
	if len(cmd.Remove) > 0 {
		if err := b.ctrl.AlterACLs(ctx, cmd); err != nil {
			for i := range resp.Results {
				if resp.Results[i].ErrorCode == 0 {
					resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errorCode(err), errorMessage(err)
					resp.Results[i].MatchingACLs = nil
				}
			}
		}
	}
	return resp
}
