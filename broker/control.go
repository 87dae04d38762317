package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

// The control plane: the brokers' requests to the active controller (the Raft leader), over
// the CONTROLLER listener on connections tagged raftmeta.TagControl, in Kafka's own KRaft APIs
// encoded by kmsg with wire's framing (wire.Client on the broker, a wire.Server with its own
// Mux on the controller, control_server.go). That Mux serves only these APIs, and the client
// listeners' Mux only the client APIs, as Kafka's controller listener serves only
// ControllerApis: a Produce sent to the controller port closes the connection.
//
//   - registration and liveness: BrokerRegistration (62) at start, then BrokerHeartbeat (63)
//     every broker.heartbeat.interval.ms and whenever the applied metadata advances; a
//     heartbeat with WantShutdown is the controlled shutdown (KRaft's), answered with
//     ShouldShutdown once the broker's leaderships moved (lifecycle.go);
//   - AlterPartition (56), the leaders' ISR changes; AllocateProducerIDs (67), blocks of
//     producer ids; DescribeQuorum (55);
//   - the admin requests a client asked some broker for: CreateTopics (19), DeleteTopics (20),
//     CreatePartitions (37), IncrementalAlterConfigs (44, which AlterConfigs is sent as),
//     ElectLeaders (43), AlterPartitionReassignments (45), ListPartitionReassignments (46).
//     They are sent to the controller directly, as KRaft's ControllerApis accept them, not
//     wrapped in Envelope (58) as Kafka's ForwardingManager does: Envelope exists to carry the
//     client's principal and raw request to a controller that authorizes and validates it
//     anew, and minikraft has no principals yet; the forwarding broker validates against its
//     own view and config (topic names, config values, per-broker resources) and sends the
//     controller one resolved item per request, so each answer's errors belong to one item.
//   - MetadataFetch, minikraft's own message (wire/control.go): a broker-only node's pull of the
//     metadata (metadata_fetch.go).
//
// Errors cross as Kafka error codes and messages in the response's own fields, so the broker
// that forwarded a request answers its client exactly as the controller would have;
// NOT_CONTROLLER makes it retry against the new leader. Every response carries, in the tagged
// field wire.TagMetadataIndex, the controller's Raft index after the change; the caller waits
// until its own metadata has applied it, so the client's next request to the same broker sees
// the change. A change that the client gave a timeout for is answered by the controller only
// once every live broker has applied it too, or 9/10 of the timeout passed (propagation.go), so
// that the other brokers see it as well.

// The versions the brokers send: one each, since both ends are the same build; the controller's
// Mux serves exactly these.
var controlVersions = map[int16]int16{
	19: 7, 20: 6, 30: 3, 31: 3, 37: 3, 43: 2, 44: 1, 45: 0, 46: 0, 51: 0, 55: 1, 56: 1, 62: 0, 63: 0, 67: 0,
	wire.MetadataFetchKey: 0,
}

// remoteError is a Kafka error that came back from the controller.
type remoteError struct {
	code int16
	msg  string
}

func (e *remoteError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return kerr.ErrorForCode(e.code).Error()
}

func (e *remoteError) Unwrap() error { return kerr.ErrorForCode(e.code) }

func remoteErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	e := &remoteError{code: code}
	if msg != nil {
		e.msg = *msg
	}
	return e
}

// controlError is the error a control response carries: its top-level error, else its first
// item's (the brokers send one item per request).
func controlError(resp kmsg.Response) error {
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		if len(r.Topics) > 0 {
			return remoteErr(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
		}
	case *kmsg.DeleteTopicsResponse:
		if len(r.Topics) > 0 {
			return remoteErr(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
		}
	case *kmsg.CreatePartitionsResponse:
		if len(r.Topics) > 0 {
			return remoteErr(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		if len(r.Resources) > 0 {
			return remoteErr(r.Resources[0].ErrorCode, r.Resources[0].ErrorMessage)
		}
	case *kmsg.CreateACLsResponse:
		for _, res := range r.Results {
			if res.ErrorCode == kerr.NotController.Code {
				return remoteErr(res.ErrorCode, res.ErrorMessage)
			}
		}
	case *kmsg.DeleteACLsResponse:
		for _, res := range r.Results {
			if res.ErrorCode == kerr.NotController.Code {
				return remoteErr(res.ErrorCode, res.ErrorMessage)
			}
		}
	case *kmsg.AlterUserSCRAMCredentialsResponse:
		// Per-user errors go back to the client as they are; only a moved controller is retried.
		for _, res := range r.Results {
			if res.ErrorCode == kerr.NotController.Code {
				return remoteErr(res.ErrorCode, res.ErrorMessage)
			}
		}
	case *kmsg.ElectLeadersResponse:
		if r.ErrorCode != 0 {
			return remoteErr(r.ErrorCode, nil)
		}
		if len(r.Topics) > 0 && len(r.Topics[0].Partitions) > 0 {
			p := r.Topics[0].Partitions[0]
			return remoteErr(p.ErrorCode, p.ErrorMessage)
		}
	case *kmsg.AlterPartitionAssignmentsResponse:
		if r.ErrorCode != 0 {
			return remoteErr(r.ErrorCode, r.ErrorMessage)
		}
		if len(r.Topics) > 0 && len(r.Topics[0].Partitions) > 0 {
			p := r.Topics[0].Partitions[0]
			return remoteErr(p.ErrorCode, p.ErrorMessage)
		}
	case *kmsg.ListPartitionReassignmentsResponse:
		return remoteErr(r.ErrorCode, r.ErrorMessage)
	case *kmsg.DescribeQuorumResponse:
		return remoteErr(r.ErrorCode, r.ErrorMessage)
	case *kmsg.AlterPartitionResponse:
		if r.ErrorCode != 0 {
			return remoteErr(r.ErrorCode, nil)
		}
		if len(r.Topics) > 0 && len(r.Topics[0].Partitions) > 0 {
			return remoteErr(r.Topics[0].Partitions[0].ErrorCode, nil)
		}
	case *kmsg.AllocateProducerIDsResponse:
		return remoteErr(r.ErrorCode, nil)
	case *kmsg.BrokerRegistrationResponse:
		return remoteErr(r.ErrorCode, nil)
	case *kmsg.BrokerHeartbeatResponse:
		return remoteErr(r.ErrorCode, nil)
	case *wire.MetadataFetchResponse:
		return remoteErr(r.ErrorCode, r.ErrorMessage)
	}
	return nil
}

// responseTags are the top-level tagged fields of a control response, where the controller puts
// wire.TagMetadataIndex; nil for a response that has none (MetadataFetch, not flexible).
func responseTags(resp kmsg.Response) *kmsg.Tags {
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		return &r.UnknownTags
	case *kmsg.DeleteTopicsResponse:
		return &r.UnknownTags
	case *kmsg.CreatePartitionsResponse:
		return &r.UnknownTags
	case *kmsg.IncrementalAlterConfigsResponse:
		return &r.UnknownTags
	case *kmsg.AlterUserSCRAMCredentialsResponse:
		return &r.UnknownTags
	case *kmsg.CreateACLsResponse:
		return &r.UnknownTags
	case *kmsg.DeleteACLsResponse:
		return &r.UnknownTags
	case *kmsg.ElectLeadersResponse:
		return &r.UnknownTags
	case *kmsg.AlterPartitionAssignmentsResponse:
		return &r.UnknownTags
	case *kmsg.ListPartitionReassignmentsResponse:
		return &r.UnknownTags
	case *kmsg.DescribeQuorumResponse:
		return &r.UnknownTags
	case *kmsg.AlterPartitionResponse:
		return &r.UnknownTags
	case *kmsg.AllocateProducerIDsResponse:
		return &r.UnknownTags
	case *kmsg.BrokerRegistrationResponse:
		return &r.UnknownTags
	case *kmsg.BrokerHeartbeatResponse:
		return &r.UnknownTags
	}
	return nil
}
