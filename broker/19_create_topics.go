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
// effective configs, and from v7 the topic id.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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

	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	changed := false
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		var (
			t   *raftmeta.Topic
			err error
		)
		if count[rt.Topic] > 1 {
			err = fmt.Errorf("%w: Create topics request from client contains multiple entries for the following topics: %s", kerr.InvalidRequest, rt.Topic)
		} else {
			t, err = b.createTopicFromRequest(ctx, rt, req.ValidateOnly)
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			if req.Version >= 1 {
				st.ErrorMessage = errorMessage(err)
			}
		} else {
			changed = !req.ValidateOnly
			st.TopicID = t.ID
			st.NumPartitions = int32(len(t.Partitions))
			if len(t.Partitions) > 0 {
				st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
			}
			if req.ValidateOnly {
				st.TopicID = [16]byte{}
			}
			st.Configs = b.createTopicsConfigs(rt)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if changed && req.TimeoutMillis > 0 {
		b.propagate(ctx) // every broker knows the new topics when the client does
	}
	return wire.Done(resp, nil)
}

func (b *Broker) createTopicFromRequest(ctx context.Context, rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (*raftmeta.Topic, error) {
	bc := &b.cfg.Broker
	spec := controller.TopicSpec{
		Name:              rt.Topic,
		Partitions:        rt.NumPartitions,
		ReplicationFactor: rt.ReplicationFactor,
	}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.", kerr.InvalidRequest)
		}
		spec.Assignment = make([][]int32, len(rt.ReplicaAssignment))
		for _, ra := range rt.ReplicaAssignment {
			if ra.Partition < 0 || int(ra.Partition) >= len(rt.ReplicaAssignment) || spec.Assignment[ra.Partition] != nil {
				return nil, fmt.Errorf("%w: Partitions should be a consecutive 0-based integer sequence", controller.ErrInvalidReplicaAssignment)
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
				return nil, fmt.Errorf("%w: Null value not supported for topic configs: %s", kerr.InvalidConfig, c.Name)
			}
			spec.Configs[c.Name] = *c.Value
		}
	}
	return b.createTopic(ctx, spec, validateOnly)
}

// createTopic validates a topic's name and configs, has the controller commit it, and applies the
// new metadata locally before returning so the caller's next request sees the topic served.
func (b *Broker) createTopic(ctx context.Context, spec controller.TopicSpec, validateOnly bool) (*raftmeta.Topic, error) {
	if err := validateTopicName(spec.Name); err != nil {
		return nil, err
	}
	if err := b.checkTopicCollision(spec.Name); err != nil {
		return nil, err
	}
	if err := config.ValidateTopic(spec.Configs); err != nil {
		return nil, err
	}
	t := new(raftmeta.Topic)
	if err := b.control(ctx, opCreateTopic, createTopicCall{Spec: spec, ValidateOnly: validateOnly}, t); err != nil {
		return nil, err
	}
	if !validateOnly {
		b.applyMetadata(b.meta.State())
	}
	return t, nil
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
