package broker

// CreateTopics (key 19), versions 0–7.
//
// Each topic is checked like Kafka checks it: a legal name (INVALID_TOPIC_EXCEPTION), either a
// count and replication factor (-1 takes num.partitions / default.replication.factor, v4+) or an
// explicit assignment but not both (INVALID_REQUEST), every config known and valid
// (INVALID_CONFIG, with Kafka's message), enough registered brokers
// (INVALID_REPLICATION_FACTOR), no name given twice in one request (INVALID_REQUEST). The
// controller places the replicas; with ValidateOnly (v1+) nothing is committed, but the answer is
// the same. From v5 the answer carries the partition count, replication factor and the topic's
// effective configs, and from v7 the topic id. With an authorizer a topic needs CREATE on the
// cluster or on the topic (TOPIC_AUTHORIZATION_FAILED), and its configs are returned only with
// DESCRIBE_CONFIGS on it (else TopicConfigErrorCode says TOPIC_AUTHORIZATION_FAILED), as Kafka.

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(19, 0, 7, (*Broker).handleCreateTopics) }

func (b *Broker) handleCreateTopics(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	az := b.checkerFor(r)
	clusterCreate := az.cluster(acl.OpCreate)
	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		var (
			created kmsg.CreateTopicsResponseTopic
			err     error
		)
		if !clusterCreate && !az.topic(acl.OpCreate, rt.Topic) {
			err = errTopicAuth
		} else if count[rt.Topic] > 1 {
			err = fmt.Errorf("%w: Create topics request from client contains multiple entries for the following topics: %s", kerr.InvalidRequest, rt.Topic)
		} else {
			var spec controller.TopicSpec
			if spec, err = b.topicSpecFromRequest(rt); err == nil {
				// With a positive timeout, the controller answers once every broker knows the
				// new topic (propagation.go).
				created, err = b.forwardCreateTopic(ctx, spec, req.ValidateOnly, forwardTimeout(ctx, req.TimeoutMillis))
			}
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			if req.Version >= 1 {
				st.ErrorMessage = errorMessage(err)
			}
		} else {
			st.TopicID, st.NumPartitions, st.ReplicationFactor = created.TopicID, created.NumPartitions, created.ReplicationFactor
			if req.ValidateOnly {
				st.TopicID = [16]byte{}
			}
			if az.topic(acl.OpDescribeConfigs, rt.Topic) {
				st.Configs = b.createTopicsConfigs(rt)
			} else {
				st.ConfigErrorCode = errTopicAuth.Code
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return wire.Done(resp, nil)
}

// topicSpecFromRequest is what a CreateTopics topic asks for, with -1 resolved to this node's
// num.partitions and default.replication.factor.
func (b *Broker) topicSpecFromRequest(rt kmsg.CreateTopicsRequestTopic) (controller.TopicSpec, error) {
	bc := &b.cfg.Broker
	spec := controller.TopicSpec{
		Name:              rt.Topic,
		Partitions:        rt.NumPartitions,
		ReplicationFactor: rt.ReplicationFactor,
	}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, fmt.Errorf("%w: Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.", kerr.InvalidRequest)
		}
		spec.Assignment = make([][]int32, len(rt.ReplicaAssignment))
		for _, ra := range rt.ReplicaAssignment {
			if ra.Partition < 0 || int(ra.Partition) >= len(rt.ReplicaAssignment) || spec.Assignment[ra.Partition] != nil {
				return spec, fmt.Errorf("%w: Partitions should be a consecutive 0-based integer sequence", controller.ErrInvalidReplicaAssignment)
			}
			spec.Assignment[ra.Partition] = ra.Replicas
		}
	}
	if spec.Partitions == -1 {
		spec.Partitions = int32(bc.NumPartitions)
	}
	if spec.ReplicationFactor == -1 {
		spec.ReplicationFactor = int16(bc.DefaultReplicationFactor)
	}
	if len(rt.Configs) > 0 {
		spec.Configs = make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value == nil {
				return spec, fmt.Errorf("%w: Null value not supported for topic configs: %s", kerr.InvalidConfig, c.Name)
			}
			spec.Configs[c.Name] = *c.Value
		}
	}
	return spec, nil
}

// createTopic creates a topic for the broker itself (auto-creation, internal topics): no
// propagation wait, and the topic as this node's metadata has it.
func (b *Broker) createTopic(ctx context.Context, spec controller.TopicSpec, timeoutMillis int32) (*raftmeta.Topic, error) {
	if _, err := b.forwardCreateTopic(ctx, spec, false, timeoutMillis); err != nil {
		return nil, err
	}
	t := b.meta.State().Topics[spec.Name]
	if t == nil {
		return nil, fmt.Errorf("%w: topic %s was deleted as it was created", kerr.UnknownTopicOrPartition, spec.Name)
	}
	return t, nil
}

// forwardCreateTopic validates a topic's name and configs, has the controller commit it (a
// CreateTopics of that one topic), and applies the new metadata locally before returning so the
// caller's next request sees the topic served. It returns the controller's answer for the topic.
func (b *Broker) forwardCreateTopic(ctx context.Context, spec controller.TopicSpec, validateOnly bool, timeoutMillis int32) (kmsg.CreateTopicsResponseTopic, error) {
	var none kmsg.CreateTopicsResponseTopic
	if err := validateTopicName(spec.Name); err != nil {
		return none, err
	}
	if err := b.checkTopicCollision(spec.Name); err != nil {
		return none, err
	}
	if err := config.ValidateTopic(spec.Configs); err != nil {
		return none, err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis, req.ValidateOnly = timeoutMillis, validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = spec.Name, spec.Partitions, spec.ReplicationFactor
	if len(spec.Assignment) > 0 {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for i, replicas := range spec.Assignment {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(i), replicas
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = name, kmsg.StringPtr(spec.Configs[name])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := b.callController(ctx, req)
	if err != nil {
		return none, err
	}
	topics := resp.(*kmsg.CreateTopicsResponse).Topics
	if len(topics) != 1 {
		return none, fmt.Errorf("%w: the controller answered %d topics for one", kerr.UnknownServerError, len(topics))
	}
	if !validateOnly {
		b.applyMetadata(b.meta.State())
	}
	return topics[0], nil
}

// createTopicsConfigs lists the new topic's effective configs for CreateTopics v5+.
func (b *Broker) createTopicsConfigs(rt kmsg.CreateTopicsRequestTopic) []kmsg.CreateTopicsResponseTopicConfig {
	overrides := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value != nil {
			overrides[c.Name] = *c.Value
		}
	}
	st := b.meta.State()
	entries := config.ResolveTopic(overrides,
		st.Configs[raftmeta.BrokerConfigResource(b.cfg.Broker.NodeID)],
		st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceBroker}],
		b.cfg.Broker.Props)
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
		out = append(out, c)
	}
	return out
}
