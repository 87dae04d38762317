package replica

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/wire"
)

// The replica fetcher's follower logic against a fake leader: answers written by the test and
// sent over an in-memory connection, so the follower's side is tested whatever the real
// leader's fetch handler answers.

// fakeLeader serves the replica fetcher's requests with answer over an in-memory connection.
func fakeLeader(t *testing.T, answer func(kmsg.Request) kmsg.Response) *wire.Client {
	t.Helper()
	srv, cli := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer srv.Close()
		r := bufio.NewReader(srv)
		for {
			var size [4]byte
			if _, err := io.ReadFull(r, size[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			rb := kbin.Reader{Src: body}
			key, version, corr := rb.Int16(), rb.Int16(), rb.Int32()
			rb.NullableString() // client id
			req := kmsg.RequestForKey(key)
			req.SetVersion(version)
			if req.IsFlexible() {
				kmsg.SkipTags(&rb)
			}
			if err := req.ReadFrom(rb.Src); err != nil {
				t.Errorf("fake leader: decoding request key %d: %v", key, err)
				return
			}
			resp := answer(req)
			resp.SetVersion(version)
			out := binary.BigEndian.AppendUint32(make([]byte, 4), uint32(corr))
			if resp.IsFlexible() {
				out = append(out, 0) // no header tags
			}
			out = resp.AppendTo(out)
			binary.BigEndian.PutUint32(out, uint32(len(out)-4))
			if _, err := srv.Write(out); err != nil {
				return
			}
		}
	}()
	cl := wire.NewClient(cli, "test-follower", 1<<20)
	t.Cleanup(func() {
		cl.Close()
		wg.Wait()
	})
	return cl
}

// fetcherManager is a Manager with what the replica fetcher's rounds use.
func fetcherManager(t *testing.T) *Manager {
	t.Helper()
	m := testManager(t)
	m.cfg.Broker.ReplicaFetchMaxBytes = 1 << 20
	m.cfg.Broker.ReplicaFetchResponseMaxBytes = 1 << 20
	return m
}

// openReplica opens a partition replica named dir under the broker's data directory.
func openReplica(t *testing.T, m *Manager, dir string) *partition.Partition {
	t.Helper()
	l, err := log.Open(filepath.Join(m.cfg.DataDir, dir), logConfig(config.DefaultTopic()), log.Options{Codecs: compress.Codecs{}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := partition.New(l, partition.Config{Topic: "t", NodeID: 1, MinInsyncReplicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// lead makes p the leader at epoch with ISR {1, 2} and appends n single-record batches; the
// high watermark moves to hw when hw >= 0 (replica 2's fetch).
func lead(t *testing.T, p *partition.Partition, epoch int32, n int, hw int64) {
	t.Helper()
	if err := p.BecomeLeader(epoch, epoch, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		produce(t, p, []log.KeyValue{{Key: []byte("k"), Value: []byte{byte(epoch), byte(i)}}}, 1_700_000_000_000)
	}
	if hw >= 0 {
		p.UpdateFollower(2, hw)
	}
}

// follow makes p a follower of broker 2 at epoch and returns the fetcher's view of it.
func follow(t *testing.T, p *partition.Partition, epoch int32) followed {
	t.Helper()
	if err := p.BecomeFollower(2, epoch, epoch, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	st, ok := p.Follower()
	if !ok {
		t.Fatal("not a follower")
	}
	return followed{topic: "t", id: 0, p: &localPartition{Partition: p}, state: st}
}

// epochEndAnswers answers the follower's OffsetForLeaderEpoch requests (one partition each) with
// end(the epoch asked about), and fails the test on any other request.
func epochEndAnswers(t *testing.T, end func(epoch int32) (int32, int64)) func(kmsg.Request) kmsg.Response {
	return func(r kmsg.Request) kmsg.Response {
		req, ok := r.(*kmsg.OffsetForLeaderEpochRequest)
		if !ok {
			t.Errorf("unexpected request %T", r)
			return r.ResponseKind()
		}
		resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = req.Topics[0].Topic
		rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
		rp.Partition = req.Topics[0].Partitions[0].Partition
		rp.LeaderEpoch, rp.EndOffset = end(req.Topics[0].Partitions[0].LeaderEpoch)
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp
	}
}

// When the leader answers OffsetForLeaderEpoch with UNDEFINED (it knows no epoch at or below
// ours), the follower keeps its log up to its high watermark, as Kafka does; it used to
// truncate to its log start, throwing away committed records.
func TestFollowerKeepsCommittedLogOnUndefinedEpochEnd(t *testing.T) {
	m := fetcherManager(t)
	p := openReplica(t, m, "follower")
	lead(t, p, 0, 2, 2)
	lead(t, p, 1, 3, 5)  // committed up to 5
	lead(t, p, 2, 2, -1) // 5..6 not committed
	f := follow(t, p, 3)
	if f.state.LogEnd != 7 || p.HighWatermark() != 5 || f.state.LatestEpoch != 2 {
		t.Fatalf("follower state %+v, high watermark %d", f.state, p.HighWatermark())
	}

	asked := 0
	cl := fakeLeader(t, epochEndAnswers(t, func(int32) (int32, int64) {
		asked++
		return -1, -1
	}))
	if err := m.truncateToLeader(context.Background(), cl, f); err != nil {
		t.Fatal(err)
	}
	if asked != 1 {
		t.Fatalf("the leader was asked %d times", asked)
	}
	if end, hw := p.LogEndOffset(), p.HighWatermark(); end != 5 || hw != 5 {
		t.Fatalf("after an undefined answer: log end %d, high watermark %d; want both 5 (the committed log kept)", end, hw)
	}
}

// leaderFetch answers a replica fetch from leader as Kafka's leader does (Partition.fetchRecords):
// when the follower's LastFetchedEpoch ends earlier in the leader's log than its fetch offset,
// or is not one the leader has, DivergingEpoch with the leader's largest epoch at or below it
// and where that ends, and no records; otherwise the records from the fetch offset.
func leaderFetch(t *testing.T, leader *partition.Partition, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LogStartOffset = leader.HighWatermark(), leader.LogStartOffset()
			if rp.LastFetchedEpoch >= 0 {
				epoch, end := leader.Log().EndOffsetForEpoch(rp.LastFetchedEpoch)
				if epoch < rp.LastFetchedEpoch || end < rp.FetchOffset {
					sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = epoch, end
					st.Partitions = append(st.Partitions, sp)
					continue
				}
			}
			res, err := leader.Read(rp.FetchOffset, int(rp.PartitionMaxBytes), req.ReplicaID, rp.CurrentLeaderEpoch)
			switch {
			case err == nil:
				sp.RecordBatches = res.Records
			case errors.Is(err, log.ErrOffsetOutOfRange):
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				t.Errorf("leader read at %d: %v", rp.FetchOffset, err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// divergedReplicas returns a leader of epoch 3 whose log has 0..1 in epoch 0 and 2..3 in
// epoch 1, and its follower, which shares epoch 0, missed epoch 1 and led epoch 2, writing
// 2..4 that nobody else has.
func divergedReplicas(t *testing.T, m *Manager) (leader, follower *partition.Partition, f followed) {
	t.Helper()
	leader = openReplica(t, m, "leader")
	lead(t, leader, 0, 2, 2)
	lead(t, leader, 1, 2, 4)
	if err := leader.BecomeLeader(3, 3, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	leader.UpdateFollower(2, 4)
	follower = openReplica(t, m, "follower")
	lead(t, follower, 0, 2, 2)
	lead(t, follower, 2, 3, -1)
	return leader, follower, follow(t, follower, 3)
}

// The OffsetForLeaderEpoch path, as at becoming a follower: the leader answers epoch 1, which
// the follower does not have, so it cuts back to where its epoch 0 ends and asks again about
// epoch 0 (KIP-279), which settles it.
func TestFollowerTruncatesByEpochEndOffsets(t *testing.T) {
	m := fetcherManager(t)
	leader, p, f := divergedReplicas(t, m)
	var asked []int32
	cl := fakeLeader(t, epochEndAnswers(t, func(epoch int32) (int32, int64) {
		asked = append(asked, epoch)
		return leader.Log().EndOffsetForEpoch(epoch)
	}))
	if err := m.truncateToLeader(context.Background(), cl, f); err != nil {
		t.Fatal(err)
	}
	if end := p.LogEndOffset(); end != 2 || len(asked) != 2 || asked[0] != 2 || asked[1] != 0 {
		t.Fatalf("log end %d after asking about epochs %v; want 2 after asking about 2 then 0", end, asked)
	}
}

// A follower fetches with the epoch of its last records (LastFetchedEpoch, not -1) and, when
// the leader answers DivergingEpoch, truncates as Kafka's AbstractFetcherThread does and
// fetches again: here with no OffsetForLeaderEpoch at all, the follower's log ends up the same
// as the leader's.
func TestFollowerTruncatesOnDivergingEpoch(t *testing.T) {
	m := fetcherManager(t)
	leader, p, f := divergedReplicas(t, m)

	var sent []int32 // LastFetchedEpoch of each fetch
	cl := fakeLeader(t, func(r kmsg.Request) kmsg.Response {
		req, ok := r.(*kmsg.FetchRequest)
		if !ok {
			t.Errorf("unexpected request %T: the fetch's DivergingEpoch should be enough", r)
			return r.ResponseKind()
		}
		if req.Version < 12 {
			t.Errorf("fetch version %d has no LastFetchedEpoch", req.Version)
		}
		sent = append(sent, req.Topics[0].Partitions[0].LastFetchedEpoch)
		return leaderFetch(t, leader, req)
	})
	// Truncation at this epoch is done as far as OffsetForLeaderEpoch goes: only the fetch's
	// divergence check is left to find the divergence.
	truncated := map[*localPartition]int32{f.p: f.state.LeaderEpoch}
	var sess fetchSession
	for round := 0; round < 5 && p.LogEndOffset() != leader.LogEndOffset(); round++ {
		f.state, _ = p.Follower()
		if err := m.fetchRound(context.Background(), cl, &sess, []followed{f}, &fetchProgress{truncated: truncated, delayed: map[*localPartition]fetchDelay{}}); err != nil {
			t.Fatal(err)
		}
		if round == 0 && p.LogEndOffset() > 2 {
			t.Fatalf("after the first fetch the follower's log ends at %d: it kept records past the divergence", p.LogEndOffset())
		}
	}
	if len(sent) == 0 || sent[0] != 2 {
		t.Fatalf("LastFetchedEpoch of the fetches = %v, want the follower's latest epoch 2 first", sent)
	}
	want, err := leader.Log().Read(0, 1<<20, leader.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Log().Read(0, 1<<20, p.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the follower's log (end %d) differs from the leader's (end %d); fetches sent LastFetchedEpoch %v",
			p.LogEndOffset(), leader.LogEndOffset(), sent)
	}
	if e, end := p.Log().EndOffsetForEpoch(1); e != 1 || end != 4 {
		t.Fatalf("the follower's epoch 1 ends at (%d, %d), want (1, 4)", e, end)
	}
}

// The fetcher in a fetch session: a full fetch first, then incremental ones naming only the
// partitions whose fetch offset moved; an incremental answer that leaves a partition out is
// not an error (it has no news), and FETCH_SESSION_ID_NOT_FOUND makes the next fetch a full one
// at once, without failing the round.
func TestFollowerFetchesInSession(t *testing.T) {
	m := fetcherManager(t)
	l0, l1 := openReplica(t, m, "leader-0"), openReplica(t, m, "leader-1")
	lead(t, l0, 1, 2, 2)
	lead(t, l1, 1, 3, 3)
	f0 := follow(t, openReplica(t, m, "follower-0"), 1)
	f1 := follow(t, openReplica(t, m, "follower-1"), 1)
	f1.id = 1
	leaders := map[int32]*partition.Partition{0: l0, 1: l1}

	type want struct {
		id, epoch int32
		named     []string // topic/partition@offset, sorted
	}
	steps := []struct {
		want   want
		answer func(req *kmsg.FetchRequest) *kmsg.FetchResponse
	}{
		{want{0, 0, []string{"t/0@0", "t/1@0"}}, func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
			resp := kmsg.NewPtrFetchResponse()
			resp.SessionID = 42
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = "t"
			for _, rp := range req.Topics[0].Partitions {
				one := *req
				one.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{rp}}}
				rt.Partitions = append(rt.Partitions, leaderFetch(t, leaders[rp.Partition], &one).Topics[0].Partitions...)
			}
			resp.Topics = append(resp.Topics, rt)
			return resp
		}},
		// Both moved on: both named. The answer has news of t/0 only.
		{want{42, 1, []string{"t/0@2", "t/1@3"}}, func(*kmsg.FetchRequest) *kmsg.FetchResponse {
			return answer(42, sessionKey{"t", 0})
		}},
		// Nothing moved: nothing named. The leader lost the session.
		{want{42, 2, nil}, func(*kmsg.FetchRequest) *kmsg.FetchResponse {
			resp := answer(0)
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp
		}},
		{want{0, 0, []string{"t/0@2", "t/1@3"}}, func(*kmsg.FetchRequest) *kmsg.FetchResponse {
			return answer(43, sessionKey{"t", 0}, sessionKey{"t", 1})
		}},
		{want{43, 1, nil}, func(*kmsg.FetchRequest) *kmsg.FetchResponse { return answer(43) }},
	}
	step := 0
	cl := fakeLeader(t, func(r kmsg.Request) kmsg.Response {
		req, ok := r.(*kmsg.FetchRequest)
		if !ok || step >= len(steps) {
			t.Errorf("unexpected request %T (step %d)", r, step)
			return r.ResponseKind()
		}
		s := steps[step]
		step++
		if got := named(req); req.SessionID != s.want.id || req.SessionEpoch != s.want.epoch || !slices.Equal(got, s.want.named) {
			t.Errorf("fetch %d: session %d epoch %d naming %v; want session %d epoch %d naming %v",
				step, req.SessionID, req.SessionEpoch, got, s.want.id, s.want.epoch, s.want.named)
		}
		return s.answer(req)
	})
	truncated := map[*localPartition]int32{f0.p: 1, f1.p: 1}
	var sess fetchSession
	for range steps {
		f0.state, _ = f0.p.Follower()
		f1.state, _ = f1.p.Follower()
		if err := m.fetchRound(context.Background(), cl, &sess, []followed{f0, f1}, &fetchProgress{truncated: truncated, delayed: map[*localPartition]fetchDelay{}}); err != nil {
			t.Fatalf("round %d: %v", step, err)
		}
	}
	if e0, e1 := f0.p.LogEndOffset(), f1.p.LogEndOffset(); e0 != 2 || e1 != 3 {
		t.Fatalf("follower log ends %d, %d; want 2, 3", e0, e1)
	}
}

// TestFollowerBacksOffAPartitionWithAnError: a partition whose fetch fails (here
// KAFKA_STORAGE_ERROR, a leader's failed log; NOT_LEADER_OR_FOLLOWER, as while the metadata
// moves, is retried after leaderBehindRetry instead: leaderBehindCode) is left out of the fetches for
// replica.fetch.backoff.ms, as Kafka's fetcher delays it, while the other partitions go on; a new
// leader epoch ends the delay. Before, the partition was asked again at once, every round, and a
// leader answering errors was fetched from in a tight loop.
func TestFollowerBacksOffAPartitionWithAnError(t *testing.T) {
	m := fetcherManager(t)
	m.cfg.Broker.ReplicaFetchBackoff = time.Minute
	good := follow(t, openReplica(t, m, "good"), 1)
	bad := follow(t, openReplica(t, m, "bad"), 1)
	bad.id = 1
	asked := map[int32]int{}
	cl := fakeLeader(t, func(r kmsg.Request) kmsg.Response {
		req := r.(*kmsg.FetchRequest)
		resp := kmsg.NewPtrFetchResponse() // SessionID 0: no session, every fetch is full
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = "t"
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				asked[p.Partition]++
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				if p.Partition == 1 {
					rp.ErrorCode = kerr.KafkaStorageError.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
		}
		resp.Topics = append(resp.Topics, rt)
		return resp
	})
	prog := newFetchProgress()
	prog.truncated[good.p], prog.truncated[bad.p] = 1, 1
	var sess fetchSession
	rounds := func(n int) {
		for range n {
			good.state, _ = good.p.Follower()
			bad.state, _ = bad.p.Follower()
			if err := m.fetchRound(context.Background(), cl, &sess, []followed{good, bad}, prog); err != nil {
				t.Fatal(err)
			}
		}
	}
	rounds(20)
	if asked[0] != 20 || asked[1] != 1 {
		t.Fatalf("in 20 rounds the good partition was fetched %d times, the failing one %d; want 20 and 1", asked[0], asked[1])
	}
	// A new leader epoch is a fresh start for the partition.
	if err := bad.p.Partition.BecomeFollower(2, 2, 2, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	prog.truncated[bad.p] = 2
	rounds(1)
	if asked[1] != 2 {
		t.Fatalf("after a new leader epoch the failing partition was fetched %d times in all, want 2", asked[1])
	}
}
