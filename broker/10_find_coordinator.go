package broker

// FindCoordinator (key 10), versions 0–4.
//
// For a group key the coordinator is the leader of __consumer_offsets partition
// abs(hashCode(group)) % the topic's partition count, Kafka's exact mapping, answered with its
// address on the listener the request came in on. The topic is created on first use (see
// ensureOffsetsTopic). For a transactional id (key type 1) it is the leader of __transaction_state
// partition abs(hashCode(id)) % its partition count, the topic created likewise on first use
// (ensureTxnTopic). v4 answers several keys at once. With an authorizer a group key needs
// DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) and a transactional id DESCRIBE on it
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), checked before anything is created.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(10, 0, 4, (*Broker).handleFindCoordinator) }

func (b *Broker) handleFindCoordinator(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	az := b.checkerFor(r)
	for _, key := range keys {
		var c kmsg.FindCoordinatorResponseCoordinator
		switch {
		case req.CoordinatorType == 0 && !az.group(acl.OpDescribe, key):
			c = kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Port, c.ErrorCode = key, -1, -1, errGroupAuth.Code
		case req.CoordinatorType == 1 && !az.txnID(acl.OpDescribe, key):
			c = kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Port, c.ErrorCode = key, -1, -1, errTxnIDAuth.Code
		default:
			c = b.findCoordinator(ctx, req.CoordinatorType, key, r.Conn.Listener)
		}
		if req.Version < 4 {
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
			if req.Version >= 1 {
				resp.ErrorMessage = c.ErrorMessage
			}
			break
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return wire.Done(resp, nil)
}

func (b *Broker) findCoordinator(ctx context.Context, keyType int8, key, listener string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	fail := func(e *kerr.Error) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode = e.Code
		return c
	}
	var t *raftmeta.Topic
	var err error
	switch {
	case keyType == 1:
		t, err = b.ensureTxnTopic(ctx)
	case keyType != 0:
		return fail(kerr.InvalidRequest) // Kafka: an unknown coordinator type
	case key == "":
		return fail(kerr.InvalidGroupID)
	default:
		t, err = b.ensureOffsetsTopic(ctx)
	}
	if err != nil || t == nil || len(t.Partitions) == 0 {
		return fail(kerr.CoordinatorNotAvailable)
	}
	p := group.PartitionFor(key, len(t.Partitions)) // the same mapping for transactional ids
	leader := t.Partitions[p].Leader
	st := b.meta.State()
	br := st.Brokers[leader]
	if leader < 0 || br == nil || br.Fenced {
		return fail(kerr.CoordinatorNotAvailable)
	}
	for _, ep := range br.Listeners {
		if ep.Name == listener {
			c.NodeID, c.Host, c.Port = leader, ep.Host, ep.Port
			return c
		}
	}
	return fail(kerr.CoordinatorNotAvailable)
}
