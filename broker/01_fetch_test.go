package broker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/fetchsession"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/internal/uuid"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// testMeta is the metadata of a broker built without a quorum: a State the test writes. Only
// State is implemented: the handlers these tests drive use nothing else of it.
type testMeta struct {
	Metadata
	st atomic.Pointer[raftmeta.State]
}

func (m *testMeta) State() *raftmeta.State { return m.st.Load() }

// fetchBroker is a Broker with only what the Fetch handler uses (v12 requests: no topic ids):
// node 1, its replica manager over a temporary data directory, metadata the test writes
// (addPartition) and a session cache of slots entries.
func fetchBroker(t testing.TB, slots int) *Broker {
	t.Helper()
	b := &Broker{log: slog.New(slog.DiscardHandler), dataDir: t.TempDir()}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.cfg.Broker.NodeID = 1
	b.cfg.Broker.ReplicaLagTimeMax = time.Minute
	meta := &testMeta{}
	meta.st.Store(&raftmeta.State{
		Brokers:  map[int32]*raftmeta.Broker{},
		Topics:   map[string]*raftmeta.Topic{},
		TopicIDs: map[[16]byte]string{},
		Configs:  map[raftmeta.ConfigResource]map[string]string{},
	})
	b.meta = meta
	b.replicas = b.newReplicaManager()
	b.sessions = fetchsession.NewCache(slots, fetchsession.MinEvictionAge)
	t.Cleanup(func() {
		b.cancel()
		if err := b.replicas.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// addPartition adds partition id of topic to the broker's metadata, led by this node (1) at
// leaderEpoch with replicas all in the ISR, applies it (which opens the replica) and returns the
// replica. Partitions of a topic are added in order.
func addPartition(t testing.TB, b *Broker, topic string, id, leaderEpoch int32, replicas ...int32) *partition.Partition {
	t.Helper()
	meta := b.meta.(*testMeta)
	st := *meta.State()
	st.Index++
	st.Topics, st.TopicIDs = maps.Clone(st.Topics), maps.Clone(st.TopicIDs)
	mt := &raftmeta.Topic{Name: topic, ID: uuid.New()}
	if old := st.Topics[topic]; old != nil {
		*mt = *old
		mt.Partitions = slices.Clone(old.Partitions)
	}
	if int(id) != len(mt.Partitions) {
		t.Fatalf("partition %d of %s added after %d partitions", id, topic, len(mt.Partitions))
	}
	mt.Partitions = append(mt.Partitions, &raftmeta.Partition{
		ID: id, Replicas: replicas, ISR: replicas, Leader: 1, LeaderEpoch: leaderEpoch,
	})
	st.Topics[topic], st.TopicIDs[mt.ID] = mt, topic
	meta.st.Store(&st)
	b.applyMetadata(&st)
	p, _, err := b.replicas.Leader(topic, id)
	if err != nil {
		t.Fatalf("partition %s-%d: %v", topic, id, err)
	}
	return p
}

// addReplicated opens partition id of topic led by this node (1) at leaderEpoch, with replicas
// 1 and 2 both in the ISR: the high watermark moves only when follower 2 says how far it is.
func addReplicated(t *testing.T, b *Broker, topic string, id int32, leaderEpoch int32) *partition.Partition {
	t.Helper()
	return addPartition(t, b, topic, id, leaderEpoch, 1, 2)
}

// appendN appends n one-record batches with acks=0 (no wait for the follower).
func appendN(t *testing.T, p *partition.Partition, n int) {
	t.Helper()
	for i := range n {
		batch := log.EncodeBatch([]log.KeyValue{{Value: fmt.Appendf(nil, "v%d", i)}}, 1_700_000_000_000)
		hdrs, err := log.ValidateBatches(batch, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendAsLeader(batch, hdrs, 0); err != nil {
			t.Fatal(err)
		}
	}
}

type fetchPart struct {
	topic                    string
	partition                int32
	offset                   int64
	currentEpoch, lastFetchd int32
}

func fetchReq(replica int32, maxWait int32, sessionID, sessionEpoch int32, ps ...fetchPart) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = replica
	req.MaxWaitMillis = maxWait
	req.MinBytes = 1
	req.SessionID, req.SessionEpoch = sessionID, sessionEpoch
	for _, fp := range ps {
		if len(req.Topics) == 0 || req.Topics[len(req.Topics)-1].Topic != fp.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = fp.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = fp.partition
		rp.FetchOffset = fp.offset
		rp.CurrentLeaderEpoch = fp.currentEpoch
		rp.LastFetchedEpoch = fp.lastFetchd
		rp.PartitionMaxBytes = 1 << 20
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, rp)
	}
	return req
}

// doFetch runs the Fetch handler and its Future, and reads the records the response refers to
// into its RecordBatches, as the connection's writer would send them.
func doFetch(t *testing.T, b *Broker, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	t.Helper()
	fut := b.handleFetch(context.Background(), &wire.Request{Key: 1, Version: req.Version, Msg: req})
	raw, err := fut()
	if err != nil {
		t.Fatal(err)
	}
	switch r := raw.(type) {
	case *wire.FetchResponse:
		defer r.Release()
		for i, row := range r.Records {
			for j, rec := range row {
				if rec == nil {
					continue
				}
				var buf bytes.Buffer
				if _, err := rec.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				r.Topics[i].Partitions[j].RecordBatches = buf.Bytes()
			}
		}
		return r.FetchResponse
	case *kmsg.FetchResponse:
		return r
	}
	t.Fatalf("response %T", raw)
	return nil
}

// onlyPartition returns the response's single partition.
func onlyPartition(t *testing.T, resp *kmsg.FetchResponse) kmsg.FetchResponseTopicPartition {
	t.Helper()
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response: error %d, %d topics; want one partition", resp.ErrorCode, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// Issue 22 item 2: a replica fetch with a stale or unknown leader epoch must not move the
// follower's state. Before the fix UpdateFollower ran first, so follower 2 "reached" offset 10
// and the high watermark advanced to 10 although the fetch was answered FENCED_LEADER_EPOCH.
func TestFollowerFetchWithBadEpochMovesNothing(t *testing.T) {
	b := fetchBroker(t, 10)
	p := addReplicated(t, b, "t", 0, 5)
	appendN(t, p, 10)
	for _, tc := range []struct {
		epoch int32
		code  int16
	}{{4, kerr.FencedLeaderEpoch.Code}, {6, kerr.UnknownLeaderEpoch.Code}} {
		sp := onlyPartition(t, doFetch(t, b, fetchReq(2, 0, 0, -1, fetchPart{"t", 0, 10, tc.epoch, -1})))
		if sp.ErrorCode != tc.code {
			t.Fatalf("epoch %d: error %d, want %d", tc.epoch, sp.ErrorCode, tc.code)
		}
		if hw := p.HighWatermark(); hw != 0 {
			t.Fatalf("a fetch at epoch %d moved the high watermark to %d", tc.epoch, hw)
		}
	}
	// Out of range: no progress either.
	sp := onlyPartition(t, doFetch(t, b, fetchReq(2, 0, 0, -1, fetchPart{"t", 0, 11, 5, -1})))
	if sp.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark() != 0 {
		t.Fatalf("out of range: error %d, hw %d", sp.ErrorCode, p.HighWatermark())
	}
	// The same fetch at the current epoch is progress.
	sp = onlyPartition(t, doFetch(t, b, fetchReq(2, 0, 0, -1, fetchPart{"t", 0, 10, 5, -1})))
	if sp.ErrorCode != 0 || p.HighWatermark() != 10 {
		t.Fatalf("good fetch: error %d, hw %d; want 0, 10", sp.ErrorCode, p.HighWatermark())
	}
}

// Issue 22 item 2: the leader's divergence check (KIP-595 on fetch). The leader wrote offsets
// 0–4 in epoch 3 and 5–9 in epoch 5. A follower that last fetched in epoch 4 (which this leader
// never had), or in epoch 3 past offset 5, has diverged: it is told where epoch 3 ends here, gets
// no records, and its fetch is not progress. Before the fix the leader sent records from the
// follower's offset and counted it caught up to it.
func TestFollowerFetchDivergingEpoch(t *testing.T) {
	b := fetchBroker(t, 10)
	p := addReplicated(t, b, "t", 0, 3)
	appendN(t, p, 5)
	if err := p.BecomeLeader(5, 1, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	appendN(t, p, 5)
	for _, tc := range []struct {
		lastEpoch int32
		offset    int64
	}{{4, 8}, {3, 7}} {
		sp := onlyPartition(t, doFetch(t, b, fetchReq(2, 0, 0, -1, fetchPart{"t", 0, tc.offset, 5, tc.lastEpoch})))
		if sp.ErrorCode != 0 || sp.DivergingEpoch.Epoch != 3 || sp.DivergingEpoch.EndOffset != 5 {
			t.Fatalf("last epoch %d at %d: error %d, diverging %+v; want epoch 3 ending at 5",
				tc.lastEpoch, tc.offset, sp.ErrorCode, sp.DivergingEpoch)
		}
		if len(sp.RecordBatches) != 0 || p.HighWatermark() != 0 {
			t.Fatalf("diverging fetch got %d record bytes, hw %d", len(sp.RecordBatches), p.HighWatermark())
		}
	}
	// A follower whose log agrees (epoch 3 up to 5, fetching from 5) reads, and is progress.
	sp := onlyPartition(t, doFetch(t, b, fetchReq(2, 0, 0, -1, fetchPart{"t", 0, 5, 5, 3})))
	if sp.ErrorCode != 0 || sp.DivergingEpoch.Epoch != -1 || len(sp.RecordBatches) == 0 || p.HighWatermark() != 5 {
		t.Fatalf("agreeing follower: error %d, diverging %+v, %d bytes, hw %d", sp.ErrorCode, sp.DivergingEpoch, len(sp.RecordBatches), p.HighWatermark())
	}
}

// Issue 20 item 1: an error ends the long poll, and the partitions with data come alongside.
func TestFetchErrorIsAnsweredAtOnce(t *testing.T) {
	b := fetchBroker(t, 10)
	p := addReplicated(t, b, "t", 0, 0)
	appendN(t, p, 3)
	if err := p.BecomeLeader(0, 1, []int32{1}, []int32{1}); err != nil { // alone: hw = log end
		t.Fatal(err)
	}
	q := addReplicated(t, b, "t", 1, 0)
	if err := q.BecomeLeader(0, 1, []int32{1}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	appendN(t, q, 10)
	start := time.Now()
	// MinBytes is far above what is there: only the error can end the wait early.
	req := fetchReq(-1, 20_000, 0, -1, fetchPart{"t", 0, 42, -1, -1}, fetchPart{"t", 1, 0, -1, -1})
	req.MinBytes = 1 << 30
	resp := doFetch(t, b, req)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("out-of-range fetch answered after %v (MaxWait 20s)", d)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("response %+v", resp.Topics)
	}
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if p0.ErrorCode != kerr.OffsetOutOfRange.Code || p1.ErrorCode != 0 || len(p1.RecordBatches) == 0 {
		t.Fatalf("partition 0 error %d; partition 1 error %d with %d bytes", p0.ErrorCode, p1.ErrorCode, len(p1.RecordBatches))
	}
}

// Issue 20 items 2 and 3 at the handler: a sessionless full fetch (epoch -1, any id) gets its
// records; epoch 0 opens a session whose incremental fetches carry only partitions with news.
func TestFetchSessionsAtTheHandler(t *testing.T) {
	b := fetchBroker(t, 10)
	var ps []*partition.Partition
	for i := range int32(3) {
		p := addReplicated(t, b, "t", i, 0)
		if err := p.BecomeLeader(0, 1, []int32{1}, []int32{1}); err != nil {
			t.Fatal(err)
		}
		appendN(t, p, 2)
		ps = append(ps, p)
	}
	all := []fetchPart{{"t", 0, 0, -1, -1}, {"t", 1, 0, -1, -1}, {"t", 2, 0, -1, -1}}
	resp := doFetch(t, b, fetchReq(-1, 0, -1, -1, all...))
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
		t.Fatalf("sessionless fetch: error %d session %d topics %+v", resp.ErrorCode, resp.SessionID, resp.Topics)
	}
	for _, sp := range resp.Topics[0].Partitions {
		if len(sp.RecordBatches) == 0 {
			t.Fatalf("sessionless fetch: partition %d without records", sp.Partition)
		}
	}
	for i := range all {
		all[i].offset = 2
	}
	resp = doFetch(t, b, fetchReq(-1, 0, 0, 0, all...))
	id := resp.SessionID
	if id == 0 || len(resp.Topics[0].Partitions) != 3 {
		t.Fatalf("full fetch at epoch 0: session %d, %d partitions", id, len(resp.Topics[0].Partitions))
	}
	// Nothing new: an empty answer.
	resp = doFetch(t, b, fetchReq(-1, 0, id, 1))
	if resp.ErrorCode != 0 || resp.SessionID != id || len(resp.Topics) != 0 {
		t.Fatalf("incremental with no news: error %d session %d topics %+v", resp.ErrorCode, resp.SessionID, resp.Topics)
	}
	// News on partition 1 only, found by a long poll that names no partition.
	appendN(t, ps[1], 1)
	sp := onlyPartition(t, doFetch(t, b, fetchReq(-1, 10_000, id, 2)))
	if sp.Partition != 1 || len(sp.RecordBatches) == 0 || sp.HighWatermark != 3 {
		t.Fatalf("incremental: partition %d, %d bytes, hw %d; want 1 with records and hw 3", sp.Partition, len(sp.RecordBatches), sp.HighWatermark)
	}
	// Replayed epoch, unknown session.
	if resp = doFetch(t, b, fetchReq(-1, 0, id, 2)); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("replayed epoch: error %d", resp.ErrorCode)
	}
	if resp = doFetch(t, b, fetchReq(-1, 0, id+1, 1)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", resp.ErrorCode)
	}
}
