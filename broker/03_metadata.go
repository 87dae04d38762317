package broker

// Metadata (key 3), versions 0–12.
//
// Brokers are listed with their advertised address for the listener the request came in on, so a
// client on EXTERNAL://127.0.0.1:9094 is sent EXTERNAL addresses and one inside a compose network
// on PLAINTEXT gets PLAINTEXT ones; a broker without that listener is left out, as Kafka does.
// Topics are named (or, v10+, given by id); none named means all topics in v0 and a null list
// means all topics in v1+. A named topic that does not exist is created when the request allows
// it (always before v4, AllowAutoTopicCreation from v4) and auto.create.topics.enable is on, with
// num.partitions and default.replication.factor (__consumer_offsets and __transaction_state with
// their own settings, as in Kafka: see createInternalTopic); the creation is committed before the
// answer, so the response already lists its leaders. Fenced or unregistered replicas are OfflineReplicas.
//
// With an authorizer (Kafka's handleTopicMetadataRequest): a named topic the principal may not
// DESCRIBE answers TOPIC_AUTHORIZATION_FAILED, and so does one that does not exist and would be
// auto-created when the principal may not CREATE it (on the cluster or the topic); listing all
// topics leaves out those it may not DESCRIBE. Authorized operations, when asked for, are the
// principal's on the topic, and on the cluster (0 without DESCRIBE on it).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(3, 0, 12, (*Broker).handleMetadata) }

// opsNotRequested is Kafka's "authorized operations not requested" marker (INT32_MIN).
const opsNotRequested = acl.NotAsked

func (b *Broker) handleMetadata(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	st := b.meta.State()
	az := b.checkerFor(r)

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	var names []string
	if allTopics {
		for name := range st.Topics {
			if az.topic(acl.OpDescribe, name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
	}
	topics := make([]kmsg.MetadataResponseTopic, 0, len(req.Topics)+len(names))
	for _, rt := range req.Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else if rt.TopicID != [16]byte{} {
			n, ok := st.TopicIDs[rt.TopicID]
			if !ok {
				t := kmsg.NewMetadataResponseTopic()
				t.TopicID = rt.TopicID
				t.ErrorCode = kerr.UnknownTopicID.Code
				topics = append(topics, t)
				continue
			}
			name = n
		}
		create := st.Topics[name] == nil && autoCreate && b.cfg.Broker.AutoCreateTopics
		if !az.topic(acl.OpDescribe, name) || (create && !az.cluster(acl.OpCreate) && !az.topic(acl.OpCreate, name)) {
			t := kmsg.NewMetadataResponseTopic()
			if rt.Topic != nil {
				t.Topic = kmsg.StringPtr(name)
			} else {
				t.TopicID = rt.TopicID
			}
			t.ErrorCode = errTopicAuth.Code
			topics = append(topics, t)
			continue
		}
		if create {
			if _, err := b.autoCreateTopic(ctx, name); err != nil && errorCode(err) != kerr.TopicAlreadyExists.Code {
				t := kmsg.NewMetadataResponseTopic()
				t.Topic = kmsg.StringPtr(name)
				t.ErrorCode = errorCode(err)
				topics = append(topics, t)
				continue
			}
			st = b.meta.State()
		}
		topics = append(topics, b.metadataTopic(st, name, req, az))
	}
	for _, name := range names {
		topics = append(topics, b.metadataTopic(st, name, req, az))
	}

	resp.Brokers = b.metadataBrokers(st, r.Conn.Listener)
	resp.ClusterID = kmsg.StringPtr(b.clusterID())
	resp.ControllerID = b.controllerIDForClients(st)
	resp.Topics = topics
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = az.clusterOps()
	}
	return wire.Done(resp, nil)
}

// autoCreateTopic creates a topic the way Kafka's auto-creation does: broker defaults, and the
// name checked like any other; an internal topic gets its own settings (createInternalTopic).
func (b *Broker) autoCreateTopic(ctx context.Context, name string) (*raftmeta.Topic, error) {
	if isInternalTopic(name) {
		return b.createInternalTopic(ctx, name)
	}
	bc := &b.cfg.Broker
	return b.createTopic(ctx, controller.TopicSpec{
		Name:              name,
		Partitions:        int32(bc.NumPartitions),
		ReplicationFactor: int16(bc.DefaultReplicationFactor),
	}, 0) // as Kafka's auto-creation: the client retries LEADER_NOT_AVAILABLE meanwhile
}

func (b *Broker) metadataTopic(st *raftmeta.State, name string, req *kmsg.MetadataRequest, az checker) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = kmsg.StringPtr(name)
	t.AuthorizedOperations = opsNotRequested
	mt := st.Topics[name]
	if mt == nil {
		t.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if validateTopicName(name) != nil {
			t.ErrorCode = kerr.InvalidTopicException.Code
		}
		return t
	}
	t.TopicID = mt.ID
	// Kafka's KRaft metadata cache marks internal topics by name, however they were created.
	t.IsInternal = mt.Internal || isInternalTopic(name)
	if req.IncludeTopicAuthorizedOperations {
		t.AuthorizedOperations = az.ops(acl.ResTopic, name)
	}
	t.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(mt.Partitions))
	for _, mp := range mt.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = mp.ID
		p.Leader = mp.Leader
		p.LeaderEpoch = mp.LeaderEpoch
		p.Replicas = mp.Replicas
		p.ISR = mp.ISR
		p.OfflineReplicas = offlineReplicas(st, mp.Replicas)
		if mp.Leader < 0 {
			p.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		t.Partitions = append(t.Partitions, p)
	}
	return t
}

// offlineReplicas are the replicas on brokers that are fenced or not registered.
func offlineReplicas(st *raftmeta.State, replicas []int32) []int32 {
	var off []int32
	for _, r := range replicas {
		if br := st.Brokers[r]; br == nil || br.Fenced {
			off = append(off, r)
		}
	}
	if off == nil {
		return []int32{}
	}
	return off
}

// metadataBrokers lists the live brokers' addresses on the named listener, by id.
func (b *Broker) metadataBrokers(st *raftmeta.State, listener string) []kmsg.MetadataResponseBroker {
	ids := make([]int32, 0, len(st.Brokers))
	for id := range st.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]kmsg.MetadataResponseBroker, 0, len(ids))
	for _, id := range ids {
		br := st.Brokers[id]
		if br.Fenced {
			continue
		}
		for _, ep := range br.Listeners {
			if ep.Name != listener {
				continue
			}
			mb := kmsg.NewMetadataResponseBroker()
			mb.NodeID = id
			mb.Host = ep.Host
			mb.Port = ep.Port
			if br.Rack != "" {
				mb.Rack = kmsg.StringPtr(br.Rack)
			}
			out = append(out, mb)
			break
		}
	}
	return out
}

// controllerIDForClients is the id clients see as "the controller". In KRaft the controllers are
// not reachable by clients, and Kafka answers with a random live broker's id so that admin
// requests that must go to the controller are sent to a broker that forwards them. We answer with
// this node when it is a live broker: it is certainly up (it is answering) and reachable on the
// client's listener. Naming the Raft leader instead goes wrong when the leader stops: until the
// next election this node still sees it unfenced and leading, and librdkafka, which looks the
// controller up again only when it has none, then waits for that dead broker until its request
// times out (a minute), where with Kafka it would have been sent to a live one.
func (b *Broker) controllerIDForClients(st *raftmeta.State) int32 {
	if br := st.Brokers[b.cfg.Broker.NodeID]; br != nil && !br.Fenced {
		return b.cfg.Broker.NodeID
	}
	if id, _, ok := b.meta.Leader(); ok {
		if br := st.Brokers[id]; br != nil && !br.Fenced {
			return id
		}
	}
	if br := st.Brokers[b.cfg.Broker.NodeID]; br != nil {
		return b.cfg.Broker.NodeID
	}
	for id, br := range st.Brokers {
		if !br.Fenced {
			return id
		}
	}
	return -1
}
