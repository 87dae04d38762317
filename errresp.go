package minikraft

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// errorResponse builds the answer a Kafka broker would give to req if every partition, topic,
// group or resource it names failed with code, as Kafka's own handlers encode such an answer
// (not as AbstractRequest.getErrorResponse does for a request that failed as a whole, which
// would drop the partitions of a v13 Fetch, say). The rule, the same for every API:
//
//   - an API whose answer has an error per item (partition, topic, group, resource) gets code on
//     every item the request names, with the item's other fields at Kafka's "unknown" values
//     (offsets -1, no records, no leader);
//   - an API whose answer has only a request-level ErrorCode gets it there, as does one whose
//     request names no items (a Metadata request for all topics, an incremental Fetch that
//     names no partition, an ElectLeaders for all partitions).
//
// ok is false for an API key it does not know how to answer.
func errorResponse(req kmsg.Request, code int16) (resp kmsg.Response, ok bool) {
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		return produceError(r, code), true
	case *kmsg.FetchRequest:
		return fetchError(r, code), true
	case *kmsg.ListOffsetsRequest:
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.MetadataRequest:
		return metadataError(r, code), true
	case *kmsg.OffsetCommitRequest:
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.OffsetFetchRequest:
		return offsetFetchError(r, code), true
	case *kmsg.FindCoordinatorRequest:
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
		for _, key := range r.CoordinatorKeys {
			sc := kmsg.NewFindCoordinatorResponseCoordinator()
			sc.Key, sc.ErrorCode, sc.NodeID, sc.Port = key, code, -1, -1
			resp.Coordinators = append(resp.Coordinators, sc)
		}
		return resp, true
	case *kmsg.JoinGroupRequest:
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, r.MemberID
		return resp, true
	case *kmsg.HeartbeatRequest:
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.LeaveGroupRequest:
		// The group's error is request-level; Kafka names no members beside it.
		resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.SyncGroupRequest:
		resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.DescribeGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range r.Groups {
			sg := kmsg.NewDescribeGroupsResponseGroup()
			sg.Group, sg.ErrorCode = g, code
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, true
	case *kmsg.ListGroupsRequest:
		resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.ApiVersionsRequest:
		resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.CreateTopicsRequest:
		resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode, st.NumPartitions, st.ReplicationFactor = rt.Topic, code, -1, -1
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.DeleteTopicsRequest:
		resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
		for _, name := range r.TopicNames {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.ErrorCode = kmsg.StringPtr(name), code
			resp.Topics = append(resp.Topics, st)
		}
		for _, rt := range r.Topics {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.TopicID, st.ErrorCode = rt.Topic, rt.TopicID, code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.DeleteRecordsRequest:
		resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewDeleteRecordsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewDeleteRecordsResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.LowWatermark = rp.Partition, code, -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.InitProducerIDRequest:
		resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		return resp, true
	case *kmsg.OffsetForLeaderEpochRequest:
		resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetForLeaderEpochResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset = rp.Partition, code, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.DescribeConfigsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, rr := range r.Resources {
			sr := kmsg.NewDescribeConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			resp.Resources = append(resp.Resources, sr)
		}
		return resp, true
	case *kmsg.AlterConfigsRequest:
		resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
		for _, rr := range r.Resources {
			sr := kmsg.NewAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			resp.Resources = append(resp.Resources, sr)
		}
		return resp, true
	case *kmsg.IncrementalAlterConfigsRequest:
		resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, rr := range r.Resources {
			sr := kmsg.NewIncrementalAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			resp.Resources = append(resp.Resources, sr)
		}
		return resp, true
	case *kmsg.CreatePartitionsRequest:
		resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.DeleteGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, g := range r.Groups {
			sg := kmsg.NewDeleteGroupsResponseGroup()
			sg.Group, sg.ErrorCode = g, code
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, true
	case *kmsg.ElectLeadersRequest:
		resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
		if r.Topics == nil {
			resp.ErrorCode = code
		}
		for _, rt := range r.Topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.AlterPartitionAssignmentsRequest:
		resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.ListPartitionReassignmentsRequest:
		resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.OffsetDeleteRequest:
		// The group's error: Kafka answers a group-level failure without partitions.
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.DescribeClusterRequest:
		resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.ErrorCode = code
		return resp, true
	case *kmsg.DescribeProducersRequest:
		resp := r.ResponseKind().(*kmsg.DescribeProducersResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewDescribeProducersResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewDescribeProducersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, true
	case *kmsg.DescribeQuorumRequest:
		resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
		resp.ErrorCode = code
		return resp, true
	}
	return controlErrorResponse(req, code)
}

// produceError fails every partition of a Produce request, with the offsets Kafka answers for a
// failed partition.
func produceError(r *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// fetchError fails every partition a Fetch request names, with no records. The answer carries
// no fetch session (session id 0): the leader did not see the request, so a session it holds is
// one epoch behind the fetcher's; a session id of 0 tells the fetcher, as KIP-227 says, that
// its session is gone, and its next fetch is a full one that names every partition (and so has
// every partition fail while the injection lasts). The fetch session errors themselves are
// request-level, as Kafka sends them.
func fetchError(r *kmsg.FetchRequest, code int16) *kmsg.FetchResponse {
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	if code == fetchSessionIDNotFound || code == invalidFetchSessionEpoch {
		resp.ErrorCode = code
		return resp
	}
	n := 0
	for _, rt := range r.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
			n++
		}
		resp.Topics = append(resp.Topics, st)
	}
	if n == 0 {
		resp.ErrorCode = code
	}
	return resp
}

// The fetch session errors (Kafka's Errors 70 and 71).
const (
	fetchSessionIDNotFound   int16 = 70
	invalidFetchSessionEpoch int16 = 71
)

// metadataError fails every topic a Metadata request names; a request for all topics gets no
// topics and no brokers, which a client treats as a failed refresh.
func metadataError(r *kmsg.MetadataRequest, code int16) *kmsg.MetadataResponse {
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewMetadataResponseTopic()
		st.Topic, st.TopicID, st.ErrorCode = rt.Topic, rt.TopicID, code
		resp.Topics = append(resp.Topics, st)
	}
	resp.ControllerID = -1
	return resp
}

// offsetFetchError fails every group (v8+) or every partition and the group (v2-v7) of an
// OffsetFetch request.
func offsetFetchError(r *kmsg.OffsetFetchRequest, code int16) *kmsg.OffsetFetchResponse {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.ErrorCode = code
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.Offset, sp.LeaderEpoch = p, code, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, rg := range r.Groups {
		sg := kmsg.NewOffsetFetchResponseGroup()
		sg.Group, sg.ErrorCode = rg.Group, code
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}

// mustErrorResponse panics for an API key errorResponse cannot answer: injecting an error a
// test cannot get is a mistake in the test, found on its first run.
func mustErrorResponse(key int16) {
	proto := kmsg.RequestForKey(key)
	if proto == nil {
		panic(fmt.Sprintf("minikraft: InjectError: api key %d is unknown", key))
	}
	if _, ok := errorResponse(proto, 0); !ok {
		panic(fmt.Sprintf("minikraft: InjectError: errors for %s (key %d) are not supported", kmsg.NameForKey(key), key))
	}
}
