package broker

// Fetch (key 1), versions 4–13.
//
// Versions below 4 expect the old message-set formats (Kafka would down-convert); minikraft serves
// RecordBatch v2 as stored, so it starts at v4 like Kafka 4.0. v13 names topics by id.
//
// Consumers read up to the high watermark (read_committed gets the same bound: with no
// transactions the last stable offset is the high watermark). Partitions are filled in request
// order within MaxBytes and each partition's PartitionMaxBytes, except that the first partition
// with data returns at least one whole batch, however large, so a consumer can always make
// progress (KIP-74). If less than MinBytes is ready and MaxWaitMillis > 0, the fetch parks on the
// partitions' high-watermark signals until enough arrives or the wait ends.
//
// Fetch sessions (KIP-227) are not kept: every response carries SessionID 0, which tells clients
// that no session was created, so they keep sending full requests; a request naming a session id
// gets FETCH_SESSION_ID_NOT_FOUND. This is what Kafka does with its session cache disabled.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(1, 4, 13, (*Broker).handleFetch) }

func (b *Broker) handleFetch(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.FetchRequest)
	if req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return wire.Done(resp, nil)
	}
	if req.ReplicaID >= 0 {
		b.recordFollowerFetch(req)
	}
	// The first read is taken here, in request order (see the wire package's doc): a Fetch
	// pipelined before a Produce on the same connection does not return that Produce's records
	// unless it had to wait for data anyway. Only the long poll waits in the future.
	resp, size, parts := b.fetchOnce(req)
	if fetchDone(req, resp.FetchResponse, size) {
		return wire.Done(resp, nil)
	}
	// The wait counts from now, as Kafka's delayed fetch does, not from when the futures before
	// this one have answered.
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	return func() (kmsg.Response, error) {
		return b.fetchWait(ctx, req, resp, parts, deadline), nil
	}
}

// fetchWait long-polls a fetch whose first read, first, did not have enough: it waits on the
// partitions' signals until MinBytes are ready or the deadline has passed, and answers with a new
// read.
func (b *Broker) fetchWait(ctx context.Context, req *kmsg.FetchRequest, first *wire.FetchResponse,
	parts []*partition.Partition, deadline time.Time) *wire.FetchResponse {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	// Register before re-reading, so data that arrives between a read and the wait still wakes
	// us; a buffered channel of one coalesces any number of signals.
	wake := make(chan struct{}, 1)
	for _, p := range parts {
		defer p.Register(wake)()
	}
	resp := first
	for {
		resp.Release() // a response not sent gives its file references back
		var size int
		resp, size, _ = b.fetchOnce(req)
		if fetchDone(req, resp.FetchResponse, size) {
			return resp
		}
		select {
		case <-wake:
		case <-t.C:
			resp.Release()
			resp, _, _ = b.fetchOnce(req)
			return resp
		case <-ctx.Done():
			return resp
		}
	}
}

// fetchDone reports whether a fetch can be answered now: enough bytes, no wait asked for, or an
// error the client must see at once.
func fetchDone(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, size int) bool {
	return size >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || resp.ErrorCode != 0 || hasPartitionError(resp)
}

// recordFollowerFetch tells each led partition how far the fetching follower is, once per
// request (see partition.UpdateFollower).
func (b *Broker) recordFollowerFetch(req *kmsg.FetchRequest) {
	for _, rt := range req.Topics {
		name := rt.Topic
		if req.Version >= 13 {
			name, _ = b.topicNameByID(rt.TopicID)
		}
		for _, rp := range rt.Partitions {
			if p, _, err := b.leaderPartition(name, rp.Partition); err == nil {
				p.UpdateFollower(req.ReplicaID, rp.FetchOffset)
			}
		}
	}
}

func hasPartitionError(resp *kmsg.FetchResponse) bool {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			switch resp.Topics[i].Partitions[j].ErrorCode {
			case 0, kerr.OffsetOutOfRange.Code:
			default:
				return true
			}
		}
	}
	return false
}

// fetchOnce reads every requested partition once, without waiting. It returns the response, the
// number of record bytes in it and the partitions that could produce more data (to wait on). The
// records stay in the log's files (wire.Records) until the response is written or released.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest) (*wire.FetchResponse, int, []*partition.Partition) {
	resp := &wire.FetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse)}
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 50 << 20 // fetch.max.bytes default for old requests that carry none
	}
	var (
		total   int
		gotData bool
		parts   []*partition.Partition
	)
	for ti, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		if req.Version >= 13 {
			var ok bool
			name, ok = b.topicNameByID(rt.TopicID)
			if !ok {
				for _, rp := range rt.Partitions {
					sp := newFetchPartition(rp.Partition)
					sp.ErrorCode = kerr.UnknownTopicID.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
				continue
			}
		}
		for _, rp := range rt.Partitions {
			sp := newFetchPartition(rp.Partition)
			p, _, err := b.leaderPartition(name, rp.Partition)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			parts = append(parts, p)
			limit := min(int(rp.PartitionMaxBytes), maxBytes-total)
			if !gotData {
				// KIP-74: the first partition with data returns one batch even past the limits.
				limit = max(limit, 1)
			}
			if limit <= 0 {
				sp.HighWatermark = p.HighWatermark()
				sp.LastStableOffset = sp.HighWatermark
				sp.LogStartOffset = p.LogStartOffset()
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			rr, err := p.ReadRecords(rp.FetchOffset, limit, req.ReplicaID, rp.CurrentLeaderEpoch)
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else if n := rr.Records.Len(); n > 0 {
				resp.SetRecords(ti, len(st.Partitions), rr.Records)
				total += n
				gotData = true
			} else {
				rr.Records.Release()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, parts
}

func newFetchPartition(id int32) kmsg.FetchResponseTopicPartition {
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.Partition = id
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
	sp.PreferredReadReplica = -1
	// Kafka sends empty records, never null: librdkafka rejects a null set (size -1).
	sp.RecordBatches = []byte{}
	return sp
}
