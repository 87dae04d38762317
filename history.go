package minikraft

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// The history (issue 21): with WithHistory, every node's Produce and Fetch requests from clients
// pass through an interceptor (wire.Mux.Intercept) that records what the cluster promised and
// what it delivered: every record a producer sent, every record acknowledged (at its offset,
// with the acks it was written with), every record handed to a consumer in a Fetch response.
// Check (history_check.go) then tests Kafka's promises over them. Without WithHistory nothing is
// installed and nothing is paid.
//
// Records are identified by a hash of their key, value and headers, and by their producer id,
// epoch and sequence; partitions by topic name, topic id and partition, so a topic deleted and
// created again under the same name (c.Reset) starts a new history. Internal topics
// (__consumer_offsets) are not recorded: their records are written by the coordinator, not by
// producers. Follower fetches are not recorded: they are the replication, not a delivery.

// WithHistory makes the cluster record every produce and every consumer fetch, for
// c.History().Check().
func WithHistory() Option { return func(o *options) { o.history = true } }

// History is a cluster's record of its produces and consumer fetches, from WithHistory.
type History struct {
	c *Cluster

	mu    sync.Mutex // leaf
	parts map[partKey]*partHistory
	found []Anomaly // found while recording (order, high watermark, conflicting acks)
	stats HistoryStats
}

// HistoryStats counts what a History recorded.
type HistoryStats struct {
	Sent    int64 // records in Produce requests
	Acked   int64 // records acknowledged (acks=1 or all) with no error
	Fetched int64 // records handed to consumers, control records included
	Errors  int64 // record sets the history could not decode (it reports them as anomalies)
}

type partKey struct {
	topic     string
	id        [16]byte
	partition int32
}

type partHistory struct {
	compacted bool                // cleanup.policy had compact when it was last read
	sent      map[uint64]struct{} // hashes of every record producers sent
	acked     map[int64]ack       // offset → the first record acknowledged there
	read      map[int64]readRec   // offset → the first record a consumer got there
	bySeq     map[seqKey]int64    // an idempotent record's offset, as read
	markers   map[int64][]marker  // a producer's transaction markers, as read
	// txnReads are the transactional records a read_committed consumer got without their
	// producer in the response's aborted transactions: aborted if a later marker says so.
	txnReads []txnRead
}

type ack struct {
	hash uint64
	acks int16
	node int32
}

type readRec struct {
	hash    uint64
	from    string // node and client address
	control bool   // a transaction marker
}

type seqKey struct {
	pid   int64
	epoch int16
	seq   int32
}

type marker struct {
	offset int64
	commit bool
}

type txnRead struct {
	offset int64
	pid    int64
	from   string
}

func newHistory(c *Cluster) *History {
	return &History{c: c, parts: map[partKey]*partHistory{}}
}

// History is the cluster's history; nil unless it was started WithHistory.
func (c *Cluster) History() *History { return c.hist }

// Stats counts what h recorded.
func (h *History) Stats() HistoryStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// part is k's history. Called with h.mu held.
func (h *History) part(k partKey) *partHistory {
	p := h.parts[k]
	if p == nil {
		p = &partHistory{
			sent: map[uint64]struct{}{}, acked: map[int64]ack{}, read: map[int64]readRec{},
			bySeq: map[seqKey]int64{}, markers: map[int64][]marker{},
		}
		h.parts[k] = p
	}
	return p
}

// attach installs the history's interceptors on node's broker (at start and at each restart).
// They go with the broker when it stops.
func (h *History) attach(node int, b *broker.Broker) {
	if h == nil {
		return
	}
	b.Mux().Intercept(0, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
		return h.produce(int32(node), b, ctx, r, next)
	})
	b.Mux().Intercept(1, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
		return h.fetch(int32(node), b, ctx, r, next)
	})
}

// produce records a Produce request's records before the broker sees them (the request's bytes
// are reused once its answer is written), and the acknowledged ones from its answer.
func (h *History) produce(node int32, b *broker.Broker, ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
	req := r.Msg.(*kmsg.ProduceRequest)
	st := b.Meta().State()
	type sentPart struct {
		key  partKey
		recs []seenRecord
	}
	sent := map[string]map[int32]sentPart{}
	h.mu.Lock()
	for _, rt := range req.Topics {
		t := st.Topic(rt.Topic)
		if t == nil || t.Internal {
			continue
		}
		for _, rp := range rt.Partitions {
			k := partKey{rt.Topic, t.ID, rp.Partition}
			recs, err := decodeBatches(rp.Records, true)
			if err != nil {
				continue // the broker refuses it as corrupt: nothing is written
			}
			p := h.part(k)
			for _, rec := range recs {
				p.sent[rec.hash] = struct{}{}
			}
			h.stats.Sent += int64(len(recs))
			if sent[rt.Topic] == nil {
				sent[rt.Topic] = map[int32]sentPart{}
			}
			sent[rt.Topic][rp.Partition] = sentPart{k, recs}
		}
	}
	h.mu.Unlock()
	f := next(ctx, r)
	if req.Acks == 0 || f == nil {
		return f
	}
	return func() (kmsg.Response, error) {
		resp, err := f()
		pr, ok := resp.(*kmsg.ProduceResponse)
		if err != nil || !ok {
			return resp, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, rt := range pr.Topics {
			for _, rp := range rt.Partitions {
				s, ok := sent[rt.Topic][rp.Partition]
				if !ok || rp.ErrorCode != 0 || rp.BaseOffset < 0 {
					continue
				}
				p := h.part(s.key)
				for _, rec := range s.recs {
					h.acked(s.key, p, rp.BaseOffset+rec.offset, ack{rec.hash, req.Acks, node})
				}
			}
		}
		return resp, nil
	}
}

// acked records one acknowledged record. A second acknowledgement of another record at the
// same offset means the first was lost, which Kafka allows only for acks=1. Called with h.mu
// held.
func (h *History) acked(k partKey, p *partHistory, offset int64, a ack) {
	h.stats.Acked++
	prev, ok := p.acked[offset]
	if !ok {
		p.acked[offset] = a
		return
	}
	if prev.hash != a.hash && prev.acks != 1 {
		h.found = append(h.found, Anomaly{Kind: LostWrite, Topic: k.topic, Partition: k.partition, Offset: offset,
			Detail: "acknowledged with acks=all (by node " + itoa(prev.node) + "), then another record was acknowledged at the same offset (by node " + itoa(a.node) + ")"})
	}
	if prev.acks == 1 {
		p.acked[offset] = a // the later record is the one that must stay
	}
}

// fetch records the records a consumer's Fetch response carries.
func (h *History) fetch(node int32, b *broker.Broker, ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
	req := r.Msg.(*kmsg.FetchRequest)
	f := next(ctx, r)
	if req.ReplicaID >= 0 || f == nil {
		return f
	}
	from := "node " + itoa(node)
	if r.Conn != nil && r.Conn.RemoteAddr != nil {
		from += " to " + r.Conn.RemoteAddr.String()
	}
	readCommitted := req.IsolationLevel == 1
	return func() (kmsg.Response, error) {
		resp, err := f()
		if err != nil || resp == nil {
			return resp, err
		}
		var kr *kmsg.FetchResponse
		var wr *wire.FetchResponse
		switch v := resp.(type) {
		case *wire.FetchResponse:
			kr, wr = v.FetchResponse, v
		case *kmsg.FetchResponse:
			kr = v
		default:
			return resp, nil
		}
		st := b.Meta().State()
		for i, rt := range kr.Topics {
			t := st.Topic(rt.Topic)
			if t == nil {
				t = st.TopicByID(rt.TopicID)
			}
			if t == nil || t.Internal {
				continue
			}
			for j := range rt.Partitions {
				rp := &rt.Partitions[j]
				if rp.ErrorCode != 0 {
					continue
				}
				data := rp.RecordBatches
				if wr != nil && i < len(wr.Records) && j < len(wr.Records[i]) && wr.Records[i][j] != nil {
					var buf bytes.Buffer
					if _, err := wr.Records[i][j].WriteTo(&buf); err != nil {
						continue // the connection fails to send it too
					}
					data = buf.Bytes()
				}
				if len(data) == 0 {
					continue
				}
				h.fetched(partKey{t.Name, t.ID, rp.Partition}, compacted(st, t.Name, h.c.opts.props), rp, data, readCommitted, from)
			}
		}
		return resp, nil
	}
}

// compacted reports whether topic's cleanup.policy includes compact.
func compacted(st *raftmeta.State, topic string, props map[string]string) bool {
	policy, ok := st.Config(raftmeta.ConfigResource{Type: raftmeta.ConfigResourceTopic, Name: topic})["cleanup.policy"]
	if !ok {
		policy = props["log.cleanup.policy"]
	}
	return strings.Contains(policy, "compact")
}
