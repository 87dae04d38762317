package minikraft

import "github.com/twmb/franz-go/pkg/kmsg"

// controlErrorResponse is errorResponse for the KRaft APIs only the CONTROLLER listener serves
// (a broker's registration, heartbeats, ISR changes, producer id blocks), by the same rule:
// every partition gets the code, else the request-level ErrorCode does.
func controlErrorResponse(req kmsg.Request, code int16) (kmsg.Response, bool) {
	switch r := req.(type) {
	case *kmsg.AlterPartitionRequest:
		resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewAlterPartitionResponseTopic()
			st.Topic, st.TopidID = rt.Topic, rt.TopicID // sic: kmsg spells it so
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.LeaderID = rp.Partition, code, -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if len(resp.Topics) == 0 {
			resp.ErrorCode = code
		}
		return resp, true
	case *kmsg.BrokerRegistrationRequest:
		resp := r.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		resp.ErrorCode, resp.BrokerEpoch = code, -1
		return resp, true
	case *kmsg.BrokerHeartbeatRequest:
		resp := r.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.AllocateProducerIDsRequest:
		resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
		resp.ErrorCode, resp.ProducerIDStart = code, -1
		return resp, true
	}
	return nil, false
}
