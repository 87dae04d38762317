package broker

// DescribeUserScramCredentials (key 50), version 0 (KIP-554).
//
// Lists the SCRAM credentials in the metadata: for each user its mechanisms and iteration
// counts, never a key or salt. Users null (kafka-configs --describe --entity-type users without a
// name) lists every user that has one. Per user, Kafka's errors: a user named twice is
// DUPLICATE_RESOURCE, one without credentials RESOURCE_NOT_FOUND, with Kafka's messages.

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(50, 0, 0, (*Broker).handleDescribeUserScramCredentials) }

func (b *Broker) handleDescribeUserScramCredentials(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.checkerFor(r).cluster(acl.OpDescribe) { // Kafka: DESCRIBE on the cluster
		resp.ErrorCode = errClusterAuth.Code
		return wire.Done(resp, nil)
	}
	st := b.meta.State()
	byUser := map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
	for _, k := range slices.SortedFunc(maps.Keys(st.ScramCredentials), func(a, b raftmeta.ScramKey) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	}) {
		ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		ci.Mechanism, ci.Iterations = k.Mechanism, st.ScramCredentials[k].Iterations
		byUser[k.User] = append(byUser[k.User], ci)
	}
	var names []string
	if req.Users == nil {
		names = slices.Sorted(maps.Keys(byUser))
	} else {
		for _, u := range req.Users {
			names = append(names, u.Name)
		}
	}
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	done := map[string]bool{}
	for _, n := range names {
		if done[n] {
			continue
		}
		done[n] = true
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = n
		switch infos, ok := byUser[n]; {
		case seen[n] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + n)
		case !ok:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + n)
		default:
			res.CredentialInfos = infos
		}
		resp.Results = append(resp.Results, res)
	}
	return wire.Done(resp, nil)
}
