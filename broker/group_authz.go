package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
)

// The group APIs' authorization (Kafka's KafkaApis, API by API), around broker/group, which
// knows nothing of principals. authorizeGroupRequest runs before the request reaches its group:
// a request denied as a whole is answered at once (early); a request with some topics or groups
// denied goes on without them (so a commit never touches a denied topic) and post puts their
// errors into the answer; read-only requests are filtered after the fact.
//
//	JoinGroup, SyncGroup, Heartbeat, LeaveGroup  READ on the group
//	OffsetCommit                                 READ on the group, READ on each topic
//	TxnOffsetCommit                              WRITE on the transactional id, READ on the group and each topic
//	OffsetFetch                                  DESCRIBE on the group, DESCRIBE on each topic
//	                                             (all topics asked: the others left out)
//	DescribeGroups                               DESCRIBE on each group; its authorized operations
//	ListGroups                                   DESCRIBE on the cluster, else only the groups it may DESCRIBE
//	DeleteGroups                                 DELETE on each group
//	OffsetDelete                                 DELETE on the group, READ on each topic
func authorizeGroupRequest(az checker, msg kmsg.Request) (early kmsg.Response, req kmsg.Request, post func(kmsg.Response)) {
	req = msg
	groupErr := errGroupAuth.Code
	switch r := msg.(type) {
	case *kmsg.JoinGroupRequest:
		if !az.group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode = groupErr
			return resp, nil, nil
		}
	case *kmsg.SyncGroupRequest:
		if !az.group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = groupErr
			return resp, nil, nil
		}
	case *kmsg.HeartbeatRequest:
		if !az.group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = groupErr
			return resp, nil, nil
		}
	case *kmsg.LeaveGroupRequest:
		if !az.group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = groupErr
			return resp, nil, nil
		}
	case *kmsg.OffsetCommitRequest:
		return authorizeOffsetCommit(az, r)
	case *kmsg.TxnOffsetCommitRequest:
		return authorizeTxnOffsetCommit(az, r)
	case *kmsg.OffsetFetchRequest:
		return nil, req, func(resp kmsg.Response) { filterOffsetFetch(az, r, resp.(*kmsg.OffsetFetchResponse)) }
	case *kmsg.DescribeGroupsRequest:
		return nil, req, func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeGroupsResponse)
			for i := range out.Groups {
				g := &out.Groups[i]
				if !az.group(acl.OpDescribe, g.Group) {
					denied := kmsg.NewDescribeGroupsResponseGroup()
					denied.Group, denied.ErrorCode = g.Group, groupErr
					denied.AuthorizedOperations = acl.NotAsked
					*g = denied
				} else if r.IncludeAuthorizedOperations {
					g.AuthorizedOperations = az.ops(acl.ResGroup, g.Group)
				}
			}
		}
	case *kmsg.ListGroupsRequest:
		if az.cluster(acl.OpDescribe) {
			return nil, req, nil
		}
		return nil, req, func(resp kmsg.Response) {
			out := resp.(*kmsg.ListGroupsResponse)
			kept := out.Groups[:0]
			for _, g := range out.Groups {
				if az.group(acl.OpDescribe, g.Group) {
					kept = append(kept, g)
				}
			}
			out.Groups = kept
		}
	case *kmsg.DeleteGroupsRequest:
		allowed, denied := partitionBy(r.Groups, func(g string) bool { return az.group(acl.OpDelete, g) })
		if denied == nil {
			return nil, req, nil
		}
		fwd := *r
		fwd.Groups = allowed
		return nil, &fwd, func(resp kmsg.Response) {
			out := resp.(*kmsg.DeleteGroupsResponse)
			for _, g := range denied {
				res := kmsg.NewDeleteGroupsResponseGroup()
				res.Group, res.ErrorCode = g, groupErr
				out.Groups = append(out.Groups, res)
			}
		}
	case *kmsg.OffsetDeleteRequest:
		if !az.group(acl.OpDelete, r.Group) {
			resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
			resp.ErrorCode = groupErr
			return resp, nil, nil
		}
		fwd := *r
		fwd.Topics = nil
		var denied []kmsg.OffsetDeleteResponseTopic
		for _, t := range r.Topics {
			if az.topic(acl.OpRead, t.Topic) {
				fwd.Topics = append(fwd.Topics, t)
				continue
			}
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, errTopicAuth.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			denied = append(denied, rt)
		}
		if denied == nil {
			return nil, req, nil
		}
		return nil, &fwd, func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetDeleteResponse)
			if out.ErrorCode == 0 {
				out.Topics = append(out.Topics, denied...)
			}
		}
	}
	return nil, req, nil
}

// commitErrors answers every partition of topics with code, as OffsetCommit answers them.
func commitErrors(topics []kmsg.OffsetCommitRequestTopic, code int16) []kmsg.OffsetCommitResponseTopic {
	var out []kmsg.OffsetCommitResponseTopic
	for _, t := range topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}

func authorizeOffsetCommit(az checker, r *kmsg.OffsetCommitRequest) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	if !az.group(acl.OpRead, r.Group) {
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.Topics = commitErrors(r.Topics, errGroupAuth.Code)
		return resp, nil, nil
	}
	allowed, denied := partitionBy(r.Topics, func(t kmsg.OffsetCommitRequestTopic) bool { return az.topic(acl.OpRead, t.Topic) })
	if denied == nil {
		return nil, r, nil
	}
	fwd := *r
	fwd.Topics = allowed
	return nil, &fwd, func(resp kmsg.Response) {
		out := resp.(*kmsg.OffsetCommitResponse)
		out.Topics = append(out.Topics, commitErrors(denied, errTopicAuth.Code)...)
	}
}

// txnCommitErrors answers every partition of topics with code, as TxnOffsetCommit answers them.
func txnCommitErrors(topics []kmsg.TxnOffsetCommitRequestTopic, code int16) []kmsg.TxnOffsetCommitResponseTopic {
	var out []kmsg.TxnOffsetCommitResponseTopic
	for _, t := range topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}

func authorizeTxnOffsetCommit(az checker, r *kmsg.TxnOffsetCommitRequest) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	code := int16(0)
	switch {
	case !az.txnID(acl.OpWrite, r.TransactionalID):
		code = errTxnIDAuth.Code
	case !az.group(acl.OpRead, r.Group):
		code = errGroupAuth.Code
	}
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = txnCommitErrors(r.Topics, code)
		return resp, nil, nil
	}
	allowed, denied := partitionBy(r.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return az.topic(acl.OpRead, t.Topic) })
	if denied == nil {
		return nil, r, nil
	}
	fwd := *r
	fwd.Topics = allowed
	return nil, &fwd, func(resp kmsg.Response) {
		out := resp.(*kmsg.TxnOffsetCommitResponse)
		out.Topics = append(out.Topics, txnCommitErrors(denied, errTopicAuth.Code)...)
	}
}

// filterOffsetFetch applies OffsetFetch's checks to the group's answer: a group the principal
// may not DESCRIBE answers GROUP_AUTHORIZATION_FAILED; a topic it may not DESCRIBE answers
// TOPIC_AUTHORIZATION_FAILED when named, and is left out when all topics were asked for.
func filterOffsetFetch(az checker, r *kmsg.OffsetFetchRequest, out *kmsg.OffsetFetchResponse) {
	if r.Version >= 8 {
		for i := range out.Groups {
			g := &out.Groups[i]
			if !az.group(acl.OpDescribe, g.Group) {
				g.Topics, g.ErrorCode = nil, errGroupAuth.Code
				continue
			}
			all := true
			for _, rg := range r.Groups {
				if rg.Group == g.Group {
					all = rg.Topics == nil
				}
			}
			kept := g.Topics[:0]
			for _, t := range g.Topics {
				switch {
				case az.topic(acl.OpDescribe, t.Topic):
				case all:
					continue
				default:
					for j := range t.Partitions {
						p := &t.Partitions[j]
						p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, errTopicAuth.Code
					}
				}
				kept = append(kept, t)
			}
			g.Topics = kept
		}
		return
	}
	if !az.group(acl.OpDescribe, r.Group) {
		out.Topics = nil
		out.ErrorCode = errGroupAuth.Code
		if r.Version < 2 {
			// No top-level error before v2: every partition asked for carries it.
			for _, t := range r.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.ErrorCode = p, -1, errGroupAuth.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		}
		return
	}
	kept := out.Topics[:0]
	for _, t := range out.Topics {
		switch {
		case az.topic(acl.OpDescribe, t.Topic):
		case r.Topics == nil:
			continue
		default:
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, errTopicAuth.Code
			}
		}
		kept = append(kept, t)
	}
	out.Topics = kept
}

// partitionBy splits xs, in order, into those ok allows and those it denies.
func partitionBy[T any](xs []T, ok func(T) bool) (allowed, denied []T) {
	for _, x := range xs {
		if ok(x) {
			allowed = append(allowed, x)
		} else {
			denied = append(denied, x)
		}
	}
	return allowed, denied
}
