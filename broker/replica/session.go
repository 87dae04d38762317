package replica

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The follower's side of a fetch session (KIP-227), as Kafka's FetchSessionHandler keeps it for
// its ReplicaFetcherThread: no IO, only what the next Fetch must say given what the leader's
// session already holds. The replica fetcher tells it, each round, every partition it wants from
// the leader with its fetch state; it answers a full fetch (session id and epoch 0, every
// partition: the leader creates a session and announces its id) or, inside a session, an
// incremental one carrying only the partitions whose fetch state changed or that are new, and
// ForgottenTopics for those no longer wanted. Each answer moves the epoch on; a session error
// (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH), a failed request or a malformed
// answer makes the next fetch a full one, and a leader that answers a full fetch with session id
// 0 (no free slot) keeps getting full fetches, each asking again for a session.

// sessionKey names a partition in a follower's session: Fetch v12 names topics, not ids.
type sessionKey struct {
	topic     string
	partition int32
}

// sessionPartition is what a fetch asks of one partition (Kafka's FetchRequest.PartitionData).
// Any change in it must reach the leader, which otherwise goes on with the last one it got.
type sessionPartition struct {
	sessionKey
	fetchOffset        int64
	logStartOffset     int64
	currentLeaderEpoch int32
	lastFetchedEpoch   int32
	maxBytes           int32
}

// fetchSession is the follower's fetch session with one leader (Kafka's FetchSessionHandler).
// Not safe for concurrent use: one replica fetcher owns it.
type fetchSession struct {
	// The next request's metadata (Kafka's nextMetadata): epoch 0 is a full fetch, which with a
	// nonzero id also closes that session on the leader.
	id, epoch int32
	// parts is the session's partitions as the leader holds them once the last built request
	// reaches it.
	parts map[sessionKey]sessionPartition
	// sentFull: the last built request was a full fetch, whose answer must name every partition.
	sentFull bool
}

// sessionNextEpoch is Kafka's FetchMetadata.nextEpoch: up from 1, wrapping to 1.
func sessionNextEpoch(e int32) int32 {
	switch {
	case e < 0:
		return -1 // FINAL stays FINAL; never built here
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

// build fills req's session fields, Topics and ForgottenTopics for a fetch of want (in the order
// of want, each partition once) and records what the leader's session holds once req reaches
// it. The caller then reports the outcome with handleResponse or handleError.
func (s *fetchSession) build(req *kmsg.FetchRequest, want []sessionPartition) {
	req.SessionID, req.SessionEpoch = s.id, s.epoch
	req.Topics, req.ForgottenTopics = nil, nil
	next := make(map[sessionKey]sessionPartition, len(want))
	for _, p := range want {
		next[p.sessionKey] = p
	}
	s.sentFull = s.epoch == 0
	if s.sentFull {
		for _, p := range want {
			addFetchPartition(req, p)
		}
		s.parts = next
		return
	}
	for _, p := range want {
		if old, ok := s.parts[p.sessionKey]; !ok || old != p {
			addFetchPartition(req, p) // added or altered
		}
	}
	for k := range s.parts {
		if _, ok := next[k]; !ok {
			addForgotten(req, k)
		}
	}
	s.parts = next
}

// addFetchPartition appends p to req's topics, next to the topic's other partitions.
func addFetchPartition(req *kmsg.FetchRequest, p sessionPartition) {
	i := len(req.Topics) - 1
	if i < 0 || req.Topics[i].Topic != p.topic {
		i = -1
		for j := range req.Topics {
			if req.Topics[j].Topic == p.topic {
				i = j
				break
			}
		}
	}
	if i < 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = p.topic
		req.Topics = append(req.Topics, rt)
		i = len(req.Topics) - 1
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p.partition
	rp.CurrentLeaderEpoch = p.currentLeaderEpoch
	rp.FetchOffset = p.fetchOffset
	rp.LastFetchedEpoch = p.lastFetchedEpoch
	rp.LogStartOffset = p.logStartOffset
	rp.PartitionMaxBytes = p.maxBytes
	req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
}

func addForgotten(req *kmsg.FetchRequest, k sessionKey) {
	for i := range req.ForgottenTopics {
		if req.ForgottenTopics[i].Topic == k.topic {
			req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, k.partition)
			return
		}
	}
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic = k.topic
	ft.Partitions = []int32{k.partition}
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
}

// handleResponse is FetchSessionHandler.handleResponse: it moves the session on by the leader's
// answer to the last built request and returns nil when the answer's partitions may be applied.
// An error means they must not be: a top-level error (the session errors among them) or an
// answer that does not fit the request (a full answer must name every partition, an incremental
// one only partitions of the session); the next fetch is then a full one.
func (s *fetchSession) handleResponse(resp *kmsg.FetchResponse) error {
	if resp.ErrorCode != 0 {
		if resp.ErrorCode == kerr.FetchSessionIDNotFound.Code {
			s.id = 0 // nothing to close on the leader
		}
		s.epoch = 0
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	if err := s.verify(resp); err != nil {
		// A full fetch already closed the session it named; an incremental one's is closed by
		// the next, full, fetch.
		if s.sentFull {
			s.id = 0
		}
		s.epoch = 0
		return err
	}
	switch {
	case resp.SessionID == 0:
		// No session (the leader's cache is full), or the leader closed ours: full fetches,
		// each asking again.
		s.id, s.epoch = 0, 0
	case s.sentFull:
		s.id, s.epoch = resp.SessionID, 1
	default:
		s.epoch = sessionNextEpoch(s.epoch)
	}
	return nil
}

// verify checks that the answer names only partitions of the session, and all of them when it
// answers a full fetch.
func (s *fetchSession) verify(resp *kmsg.FetchResponse) error {
	n := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if _, ok := s.parts[sessionKey{rt.Topic, rp.Partition}]; !ok {
				return fmt.Errorf("fetch session %d: the leader answered %s/%d, which the session does not hold", s.id, rt.Topic, rp.Partition)
			}
			n++
		}
	}
	if s.sentFull && n != len(s.parts) {
		return fmt.Errorf("fetch session: the leader answered %d partitions of a full fetch of %d", n, len(s.parts))
	}
	return nil
}

// handleError is FetchSessionHandler.handleError: the request failed (or its connection did), so
// whatever the leader holds is unknown; the next fetch is a full one that closes the session.
func (s *fetchSession) handleError() { s.epoch = 0 }
