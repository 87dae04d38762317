package broker

// DescribeAcls (key 29), versions 0–3.
//
// minikraft has no authorizer (authorizer.class.name is empty, Kafka's default), so, like a Kafka
// broker without one, it answers every ACL request with SECURITY_DISABLED and "No Authorizer is
// configured on the broker": admin tools (kafka-acls, kafka-ui, AdminClient.describeAcls) then
// report that ACLs are off instead of that the broker does not know the API. CreateAcls (30) and
// DeleteAcls (31) answer the same per creation and per filter.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	resp := r.Msg.(*kmsg.DescribeACLsRequest).ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.ErrorCode = kerr.SecurityDisabled.Code
	resp.ErrorMessage = &noAuthorizerOnBroker
	return wire.Done(resp, nil)
}
