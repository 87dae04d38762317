package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// The controller's side of the control plane (see control.go): a wire.Server over its own Mux
// on the TagControl connections of the CONTROLLER listener. The handlers run on any voter but
// answer NOT_CONTROLLER unless this node leads the quorum, except MetadataFetch, which any voter
// serves. Each answers synchronously: the brokers send one request at a time per connection
// (controlConns), so a handler that waits (a change's propagation) holds up no one else.

// controlCallTimeout bounds one controller operation on the leader.
const controlCallTimeout = 30 * time.Second

// newControlMux binds the control APIs, in the versions the brokers send, to b.
func (b *Broker) newControlMux() *wire.Mux {
	m := wire.NewMux()
	for key, v := range controlVersions {
		m.Handle(key, v, v, func(ctx context.Context, r *wire.Request) wire.Future {
			return wire.Done(b.serveControlRequest(ctx, r.Msg), nil)
		})
	}
	return m
}

// serveControlRequest answers one control request on this node: from the control listener, or
// called directly when this node is the controller itself. The answer carries the metadata
// index the caller must wait for (wire.TagMetadataIndex).
func (b *Broker) serveControlRequest(ctx context.Context, req kmsg.Request) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	var resp kmsg.Response
	switch r := req.(type) {
	case *wire.MetadataFetchRequest:
		resp = b.serveMetadataFetch(ctx, r)
	case *kmsg.BrokerRegistrationRequest:
		resp = b.serveBrokerRegistration(ctx, r)
	case *kmsg.BrokerHeartbeatRequest:
		resp = b.serveBrokerHeartbeat(ctx, r)
	case *kmsg.AlterPartitionRequest:
		resp = b.serveAlterPartition(ctx, r)
	case *kmsg.AllocateProducerIDsRequest:
		resp = b.serveAllocateProducerIDs(ctx, r)
	case *kmsg.DescribeQuorumRequest:
		resp = b.serveDescribeQuorum(r)
	case *kmsg.ListPartitionReassignmentsRequest:
		resp = b.serveListPartitionReassignments(r)
	case *kmsg.CreateTopicsRequest:
		resp = b.serveCreateTopics(ctx, r)
	case *kmsg.DeleteTopicsRequest:
		resp = b.serveDeleteTopics(ctx, r)
	case *kmsg.CreatePartitionsRequest:
		resp = b.serveCreatePartitions(ctx, r)
	case *kmsg.IncrementalAlterConfigsRequest:
		resp = b.serveIncrementalAlterConfigs(ctx, r)
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		resp = b.serveAlterUserScramCredentials(ctx, r)
	case *kmsg.CreateACLsRequest:
		resp = b.serveCreateACLs(ctx, r)
	case *kmsg.DeleteACLsRequest:
		resp = b.serveDeleteACLs(ctx, r)
	case *kmsg.ElectLeadersRequest:
		resp = b.serveElectLeaders(ctx, r)
	case *kmsg.AlterPartitionAssignmentsRequest:
		resp = b.serveAlterPartitionAssignments(ctx, r)
	default:
		// The control Mux registers exactly the keys above (controlVersions).
		panic(fmt.Sprintf("broker: no control handler for %T", req))
	}
	resp.SetVersion(req.GetVersion())
	if tags := responseTags(resp); tags != nil {
		wire.SetUint64Tag(tags, wire.TagMetadataIndex, b.meta.State().Index)
	}
	return resp
}

// activeController is nil when this node is the active controller, else raftmeta.ErrNotLeader
// (NOT_CONTROLLER on the wire).
func (b *Broker) activeController() error {
	if b.ctrl == nil || !b.meta.IsLeader() {
		return raftmeta.ErrNotLeader
	}
	return nil
}

// securityProtocols are Kafka's SecurityProtocol ids, as BrokerRegistration's listeners carry
// them.
var securityProtocols = map[int16]string{0: "PLAINTEXT", 1: "SSL", 2: "SASL_PLAINTEXT", 3: "SASL_SSL"}

func securityProtocolID(name string) int16 {
	for id, n := range securityProtocols {
		if n == name {
			return id
		}
	}
	return 0
}

// serveBrokerRegistration records a broker's endpoints and answers its broker epoch (the Raft
// index of the registration).
func (b *Broker) serveBrokerRegistration(ctx context.Context, r *kmsg.BrokerRegistrationRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	err := b.activeController()
	if err == nil && r.ClusterID != b.clusterID() {
		err = kerr.InconsistentClusterID
	}
	if err == nil {
		br := raftmeta.Broker{ID: r.BrokerID, Incarnation: r.IncarnationID}
		if r.Rack != nil {
			br.Rack = *r.Rack
		}
		for _, l := range r.Listeners {
			proto, ok := securityProtocols[l.SecurityProtocol]
			if !ok {
				err = fmt.Errorf("%w: unknown security protocol %d for listener %s", kerr.InvalidRequest, l.SecurityProtocol, l.Name)
				break
			}
			br.Listeners = append(br.Listeners, raftmeta.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port), SecurityProtocol: proto})
		}
		if err == nil {
			resp.BrokerEpoch, err = b.ctrl.RegisterBroker(ctx, br, time.Now())
		}
	}
	resp.ErrorCode = errorCode(err)
	return resp
}

// serveBrokerHeartbeat keeps a broker's session (unfencing it if it was fenced), records its
// metadata progress, or, with WantShutdown, is its controlled shutdown: its leaderships move
// and it is fenced before the answer says ShouldShutdown. A heartbeat of an unknown broker is
// BROKER_ID_NOT_REGISTERED, one of another registration STALE_BROKER_EPOCH: the broker
// registers again.
func (b *Broker) serveBrokerHeartbeat(ctx context.Context, r *kmsg.BrokerHeartbeatRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	err := b.activeController()
	var br *raftmeta.Broker
	if err == nil {
		br = b.meta.State().Brokers[r.BrokerID]
		switch {
		case br == nil:
			err = kerr.BrokerIDNotRegistered
		case br.Epoch != r.BrokerEpoch:
			err = kerr.StaleBrokerEpoch
		}
	}
	switch {
	case err != nil:
	case r.WantShutdown:
		err = b.ctrl.ShutdownBroker(ctx, r.BrokerID)
		resp.ShouldShutdown = err == nil
	default:
		now := time.Now()
		if err = b.ctrl.Heartbeat(ctx, r.BrokerID, br.Incarnation, now); err == nil {
			b.ctrl.MetadataProgress(r.BrokerID, r.CurrentMetadataOffset, wire.HasTag(&r.UnknownTags, wire.TagRaftLogOffset), now)
			applied, _ := wire.Uint64Tag(&r.UnknownTags, wire.TagMetadataIndex)
			b.ctrl.BrokerApplied(r.BrokerID, applied)
			// Caught up once it has applied its own registration, as KRaft's
			// BrokerHeartbeatManager judges it.
			resp.IsCaughtUp = applied >= uint64(br.Epoch)
		}
	}
	if err == nil {
		if cur := b.meta.State().Brokers[r.BrokerID]; cur != nil {
			resp.IsFenced = cur.Fenced
		}
	}
	resp.ErrorCode = errorCode(err)
	return resp
}

// serveAlterPartition commits a leader's ISR changes; each partition's answer is its state
// after the change.
func (b *Broker) serveAlterPartition(ctx context.Context, r *kmsg.AlterPartitionRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
	if err := b.activeController(); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			err := b.ctrl.AlterPartition(ctx, rt.Topic, rp.Partition, r.BrokerID, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR)
			sp.ErrorCode = errorCode(err)
			if t := b.meta.State().Topics[rt.Topic]; err == nil && t != nil && int(rp.Partition) < len(t.Partitions) {
				p := t.Partitions[rp.Partition]
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// serveAllocateProducerIDs reserves a block of producer ids (KRaft's blocks are of 1000).
func (b *Broker) serveAllocateProducerIDs(ctx context.Context, r *kmsg.AllocateProducerIDsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	err := b.activeController()
	if err == nil {
		resp.ProducerIDStart, err = b.ctrl.AllocateProducerIDs(ctx, producerIDBlockSize)
		resp.ProducerIDLen = producerIDBlockSize
	}
	resp.ErrorCode = errorCode(err)
	return resp
}

// serveDescribeQuorum answers from the active controller's view of the quorum.
func (b *Broker) serveDescribeQuorum(r *kmsg.DescribeQuorumRequest) kmsg.Response {
	if resp, ok := unknownQuorumPartitions(r); !ok {
		return resp
	}
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	err := b.activeController()
	if err == nil {
		var d controller.QuorumDescription
		if d, err = b.ctrl.DescribeQuorum(time.Now()); err == nil {
			describeQuorumResponse(resp, d)
		}
	}
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return resp
}
