package broker

// DeleteTopics (key 20), versions 0–6.
//
// Topics are named (v0–5) or, from v6, named or given by id. Deleting an unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by id); internal topics cannot be deleted
// (INVALID_TOPIC_EXCEPTION); with
// delete.topic.enable=false every deletion is TOPIC_DELETION_DISABLED. Each replica's files are
// removed once the deletion is applied on its broker. With an authorizer a topic needs DELETE
// on it (TOPIC_AUTHORIZATION_FAILED, checked before whether it exists when named, after it is
// found when given by id, as Kafka's handleDeleteTopicsRequest).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(20, 0, 6, (*Broker).handleDeleteTopics) }

func (b *Broker) handleDeleteTopics(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	type target struct {
		name *string
		id   [16]byte
	}
	az := b.checkerFor(r)
	allow := func(topic string) bool { return az.topic(acl.OpDelete, topic) }
	var targets []target
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: kmsg.StringPtr(n)})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		// With a positive timeout, the controller answers once no broker serves the topic
		// (propagation.go).
		err := b.deleteTopic(ctx, tg.name, tg.id, forwardTimeout(ctx, req.TimeoutMillis), allow)
		if err == nil {
			b.applyMetadata(b.meta.State())
		}
		st.ErrorCode = errorCode(err)
		if req.Version >= 5 {
			st.ErrorMessage = errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}

func (b *Broker) deleteTopic(ctx context.Context, name *string, id [16]byte, timeoutMillis int32, allow func(string) bool) error {
	if !b.cfg.Broker.DeleteTopicEnable {
		return kerr.TopicDeletionDisabled
	}
	st := b.meta.State()
	var topic string
	switch {
	case name != nil && *name != "":
		topic = *name
		if !allow(topic) {
			return errTopicAuth
		}
		if st.Topics[topic] == nil {
			return kerr.UnknownTopicOrPartition
		}
		if id != ([16]byte{}) && st.Topics[topic].ID != id {
			return fmt.Errorf("%w: topic id does not match the name", kerr.InvalidRequest)
		}
	case id != [16]byte{}:
		n, ok := st.TopicIDs[id]
		if !ok {
			return kerr.UnknownTopicID
		}
		topic = n
		if !allow(topic) {
			return errTopicAuth
		}
	default:
		return kerr.InvalidRequest
	}
	if isInternalTopic(topic) {
		return fmt.Errorf("%w: Cannot delete internal topic %s", kerr.InvalidTopicException, topic)
	}
	fwd := kmsg.NewPtrDeleteTopicsRequest()
	fwd.TimeoutMillis = timeoutMillis
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	fwd.Topics = append(fwd.Topics, rt)
	_, err := b.callController(ctx, fwd)
	return err
}
