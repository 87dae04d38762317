package broker

// Fetch (key 1), versions 4–13.
//
// Versions below 4 expect the old message-set formats (Kafka would down-convert); minikraft serves
// RecordBatch v2 as stored, so it starts at v4 like Kafka 4.0. v13 names topics by id.
//
// Consumers read up to the high watermark, read_committed ones (IsolationLevel 1) up to the last
// stable offset, with the aborted transactions overlapping what they may read (Kafka's
// collectAbortedTransactions); every partition's answer carries the last stable offset. A marker
// that moves the last stable offset wakes a waiting fetch like any high-watermark change (the
// last stable offset can only move when the high watermark or the open transactions do, and both
// notify the partition's waiters). Partitions are filled in order
// within MaxBytes and each partition's PartitionMaxBytes, except that the first partition with
// data returns at least one whole batch, however large, so a consumer can always make progress
// (KIP-74). If less than MinBytes is ready and MaxWaitMillis > 0, the fetch parks on the
// partitions' high-watermark signals until enough arrives or the wait ends, unless a partition
// has an error or a diverging epoch: that is answered at once, with whatever the other partitions
// have (Kafka's ReplicaManager.fetchMessages and DelayedFetch), so a consumer seeking past the
// end hears OFFSET_OUT_OF_RANGE without waiting out its MaxWait.
//
// With an authorizer, a replica's fetch needs CLUSTER_ACTION on the cluster and a consumer's READ
// on each topic; a partition denied answers TOPIC_AUTHORIZATION_FAILED (Kafka's
// handleFetchRequest), decided once when the request arrives (fetchDenied).
//
// Fetch sessions (KIP-227) are kept as Kafka keeps them; broker/fetchsession has the rules.
// SessionEpoch 0 and -1 are full fetches whatever the SessionID (epoch 0 asks for a session);
// other epochs are incremental fetches, which name only changed partitions and are answered with
// only the partitions that have news. Followers get sessions too (privileged in the cache).
//
// A replica's fetch (ReplicaID >= 0) also tells the leader how far the follower is. As in Kafka's
// Partition.fetchRecords, the follower's state is updated only after a successful read of the
// partition, so a fetch with a fenced or unknown leader epoch, an offset outside the log or a
// diverging epoch moves nothing: not the follower's log end, its caught-up time, the high
// watermark or the ISR. It is updated once per request, at the first read: re-reads while the
// fetch waits are not fresh progress, or a follower that died with a fetch parked here would look
// caught up until that fetch ends. A replica fetch carrying LastFetchedEpoch (v12+) is first
// checked for divergence against the leader's epoch cache (KIP-595's check on fetch): when the
// follower's last epoch ends here before its fetch offset, or is unknown here, the answer is
// DivergingEpoch {the largest epoch at or below it, where it ends} with no records.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/fetchsession"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(1, 4, 13, (*Broker).handleFetch) }

// handleFetch resolves the request's session and takes the first read when the request arrives,
// in request order (see the wire package's doc): session epochs are checked in the order they
// were sent, and a Fetch pipelined before a Produce on the same connection does not return that
// Produce's records unless it had to wait for data anyway. Only the long poll waits in the
// Future.
func (b *Broker) handleFetch(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.FetchRequest)
	fc, err := b.sessions.NewContext(sessionRequest(req), time.Now())
	if err != nil {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = sessionErrorCode(err)
		return wire.Done(resp, nil)
	}
	parts := fc.Partitions()
	reads := make([]partRead, len(parts))
	denied := b.fetchDenied(r, req, parts)
	st := b.readPartitions(req, parts, reads, true, denied)
	if st.answerNow(req, len(parts)) {
		return wire.Done(fetchResponse(req, fc, parts, reads), nil)
	}
	// The wait counts from now, as Kafka's delayed fetch does, not from when the futures before
	// this one have answered.
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	return func() (kmsg.Response, error) {
		return b.fetchWait(ctx, req, fc, parts, reads, st.waitOn, deadline, denied), nil
	}
}

// fetchDenied returns the topics of parts the request may not read (nil: none). A replica's
// fetch without CLUSTER_ACTION is denied every topic.
func (b *Broker) fetchDenied(r *wire.Request, req *kmsg.FetchRequest, parts []fetchsession.PartitionRequest) map[string]bool {
	az := b.checkerFor(r)
	if !az.enabled() {
		return nil
	}
	var denied map[string]bool
	follower := req.ReplicaID >= 0 && !az.cluster(acl.OpClusterAction)
	for _, pr := range parts {
		name := pr.Topic
		if req.Version >= 13 {
			var known bool
			if name, known = b.topicNameByID(pr.TopicID); !known {
				continue
			}
		}
		if _, done := denied[name]; done {
			continue
		}
		if follower || (req.ReplicaID < 0 && !az.topic(acl.OpRead, name)) {
			if denied == nil {
				denied = map[string]bool{}
			}
			denied[name] = true
		}
	}
	return denied
}

// sessionRequest is the request as the session cache sees it. Before v7 a request carries no
// session fields: kmsg's defaults (id 0, epoch -1) make it sessionless, as Kafka's LEGACY
// metadata does.
func sessionRequest(req *kmsg.FetchRequest) fetchsession.Request {
	sr := fetchsession.Request{
		SessionID:    req.SessionID,
		SessionEpoch: req.SessionEpoch,
		UsesTopicIDs: req.Version >= 13,
		Follower:     req.ReplicaID >= 0,
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			sr.Partitions = append(sr.Partitions, fetchsession.PartitionRequest{
				Key:                fetchKey(req.Version, rt.Topic, rt.TopicID, rp.Partition),
				FetchOffset:        rp.FetchOffset,
				LogStartOffset:     rp.LogStartOffset,
				MaxBytes:           rp.PartitionMaxBytes,
				CurrentLeaderEpoch: rp.CurrentLeaderEpoch,
				LastFetchedEpoch:   rp.LastFetchedEpoch,
			})
		}
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			sr.Forgotten = append(sr.Forgotten, fetchKey(req.Version, ft.Topic, ft.TopicID, p))
		}
	}
	return sr
}

// fetchKey names a partition by topic id from v13 on, by topic name before.
func fetchKey(version int16, topic string, id [16]byte, p int32) fetchsession.Key {
	if version >= 13 {
		return fetchsession.Key{TopicID: id, Partition: p}
	}
	return fetchsession.Key{Topic: topic, Partition: p}
}

func sessionErrorCode(err error) int16 {
	switch {
	case errors.Is(err, fetchsession.ErrSessionIDNotFound):
		return kerr.FetchSessionIDNotFound.Code
	case errors.Is(err, fetchsession.ErrInvalidEpoch):
		return kerr.InvalidFetchSessionEpoch.Code
	case errors.Is(err, fetchsession.ErrTopicIDMismatch):
		return kerr.FetchSessionTopicIDError.Code
	}
	return errorCode(err)
}

// fetchWait long-polls a fetch whose first read did not have enough: it waits on the partitions'
// signals until MinBytes are ready, a partition has news that ends the wait, or the deadline has
// passed, and answers with a new read.
func (b *Broker) fetchWait(ctx context.Context, req *kmsg.FetchRequest, fc *fetchsession.Context,
	parts []fetchsession.PartitionRequest, reads []partRead, waitOn []*partition.Partition, deadline time.Time, denied map[string]bool) *wire.FetchResponse {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	// Register before re-reading, so data that arrives between a read and the wait still wakes
	// us; a buffered channel of one coalesces any number of signals.
	wake := make(chan struct{}, 1)
	for _, p := range waitOn {
		defer p.Register(wake)()
	}
	for {
		if st := b.readPartitions(req, parts, reads, false, denied); st.answerNow(req, len(parts)) {
			break
		}
		select {
		case <-wake:
			continue
		case <-t.C:
			b.readPartitions(req, parts, reads, false, denied)
		case <-ctx.Done():
			// The connection is gone: nothing will be sent, and the session must not record
			// what the client was never told.
			for i := range reads {
				reads[i].release()
			}
			return &wire.FetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse)}
		}
		break
	}
	return fetchResponse(req, fc, parts, reads)
}

// fetchResponse lets the session decide what the client hears (a new session id for a full
// fetch, only the partitions with news for an incremental one) and builds the response: each run
// of partitions of one topic becomes one topic entry, as Kafka's FetchResponse.of does.
func fetchResponse(req *kmsg.FetchRequest, fc *fetchsession.Context, parts []fetchsession.PartitionRequest, reads []partRead) *wire.FetchResponse {
	resp := &wire.FetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse)}
	results := make([]fetchsession.Result, len(reads))
	for i := range reads {
		sp := &reads[i].sp
		results[i] = fetchsession.Result{
			HighWatermark:  sp.HighWatermark,
			LogStartOffset: sp.LogStartOffset,
			ErrorCode:      sp.ErrorCode,
			RecordBytes:    reads[i].rec.Len(),
			Diverging:      sp.DivergingEpoch.Epoch >= 0,
		}
	}
	id, keep, err := fc.Finish(results, time.Now())
	resp.SessionID = id
	if err != nil {
		resp.ErrorCode = sessionErrorCode(err)
	}
	for i, pr := range parts {
		if err != nil || !keep[i] {
			reads[i].release()
			continue
		}
		n := len(resp.Topics)
		if n == 0 || resp.Topics[n-1].Topic != pr.Topic || resp.Topics[n-1].TopicID != pr.TopicID {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = pr.Topic, pr.TopicID
			resp.Topics = append(resp.Topics, st)
			n++
		}
		t := &resp.Topics[n-1]
		if reads[i].rec != nil {
			if p := reads[i].p; p != nil {
				p.CountFetched(reads[i].rec.Len(), req.ReplicaID >= 0) // metrics: BytesOut
			}
			resp.SetRecords(n-1, len(t.Partitions), reads[i].rec)
			reads[i].rec = nil // the response owns it now
		}
		t.Partitions = append(t.Partitions, reads[i].sp)
	}
	return resp
}
