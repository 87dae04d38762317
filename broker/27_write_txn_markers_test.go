package broker

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/minikraft/minikraft/log"
)

// txnTestBatch is a batch of values from producer pid at epoch and base sequence seq,
// transactional when txn is set, as a transactional client writes it.
func txnTestBatch(pid int64, epoch int16, seq int32, txn bool, values ...string) []byte {
	kvs := make([]log.KeyValue, len(values))
	for i, v := range values {
		kvs[i] = log.KeyValue{Key: []byte("k"), Value: []byte(v)}
	}
	b := log.EncodeBatch(kvs, time.Now().UnixMilli())
	if txn {
		attrs := binary.BigEndian.Uint16(b[21:])
		binary.BigEndian.PutUint16(b[21:], attrs|0x10)
	}
	log.SetProducer(b, pid, epoch, seq) // recomputes the CRC
	return b
}

type txnTest struct {
	t     *testing.T
	ctx   context.Context
	cl    *kgo.Client
	topic string
}

func (x *txnTest) produce(txnID *string, records []byte) int16 {
	x.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = x.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(x.ctx, x.cl)
	if err != nil {
		x.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// marker sends one WriteTxnMarkers for the producer and returns each partition's error code.
func (x *txnTest) marker(pid int64, epoch int16, coordinatorEpoch int32, commit bool, topic string, parts ...int32) []int16 {
	x.t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed = pid, epoch, coordinatorEpoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, parts
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	// To the node itself: franz-go would shard the request by partition leader.
	kresp, err := x.cl.Broker(0).Request(x.ctx, req)
	if err != nil {
		x.t.Fatal(err)
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	var codes []int16
	for _, p := range resp.Markers[0].Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	return codes
}

func (x *txnTest) listOffset(isolation int8) int64 {
	x.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = x.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(x.ctx, x.cl)
	if err != nil {
		x.t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		x.t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// consumer collects the values a franz-go consumer at an isolation level reads.
type consumer struct {
	mu     sync.Mutex
	values []string
}

func (c *consumer) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.values)
}

func startConsumer(t *testing.T, ctx context.Context, addr, topic string, iso kgo.IsolationLevel) *consumer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := &consumer{}
	done := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		for cctx.Err() == nil {
			fs := cl.PollFetches(cctx)
			fs.EachRecord(func(r *kgo.Record) {
				c.mu.Lock()
				c.values = append(c.values, string(r.Value))
				c.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return c
}

func waitValues(t *testing.T, what string, c *consumer, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := c.got()
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("%s read %q, want %q", what, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTransactionsReadCommitted writes transactional batches by hand and ends them with
// WriteTxnMarkers, then reads with franz-go at both isolation levels: read_uncommitted sees
// everything below the high watermark, read_committed only committed and plain records below the
// last stable offset (franz-go drops the aborted ones with the AbortedTransactions it is sent),
// and a marker that moves the last stable offset reaches a read_committed consumer parked in a
// long poll. Bad input gets Kafka's error codes.
func TestTransactionsReadCommitted(t *testing.T) {
	// The transactional batches are written by hand, for no coordinator to verify (KIP-890).
	b, addr := startNodeWith(t, map[string]string{"transaction.partition.verification.enable": "false"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Produce v12 would add the partition to the producer's transaction whatever the setting
	// (transaction version 2): stay at v11, where the setting turns the coordinator's check off.
	maxVersions := kversion.Stable()
	maxVersions.SetMaxKeyVersion(0, 11)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(maxVersions))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const topic = "txn"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	x := &txnTest{t: t, ctx: ctx, cl: cl, topic: topic}
	pids := make([]int64, 2)
	for i := range pids {
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("InitProducerID: %v %v", err, resp)
		}
		pids[i] = resp.ProducerID
	}
	pa, pb := pids[0], pids[1]
	txnID := kmsg.StringPtr("tx")

	if code := x.produce(nil, txnTestBatch(pa, 0, 0, true, "a1")); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional batch without a transactional id: %v", kerr.ErrorForCode(code))
	}
	for _, w := range []struct {
		id  *string
		rec []byte
	}{
		{txnID, txnTestBatch(pa, 0, 0, true, "a1", "a2")}, // 0-1
		{txnID, txnTestBatch(pb, 0, 0, true, "b1")},       // 2
		{nil, txnTestBatch(-1, -1, -1, false, "p1")},      // 3
	} {
		if code := x.produce(w.id, w.rec); code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
	}
	if code := x.produce(nil, txnTestBatch(pa, 0, 2, false, "x")); code != kerr.InvalidTxnState.Code {
		t.Fatalf("plain batch inside a transaction: %v", kerr.ErrorForCode(code))
	}
	if hw, lso := x.listOffset(0), x.listOffset(1); hw != 4 || lso != 0 {
		t.Fatalf("ListOffsets latest: uncommitted %d, committed %d; want 4, 0", hw, lso)
	}

	committed := startConsumer(t, ctx, addr, topic, kgo.ReadCommitted())
	uncommitted := startConsumer(t, ctx, addr, topic, kgo.ReadUncommitted())
	waitValues(t, "read_uncommitted", uncommitted, []string{"a1", "a2", "b1", "p1"})

	if codes := x.marker(pa, 0, 1, true, topic, 0); codes[0] != 0 { // 4
		t.Fatalf("COMMIT: %v", kerr.ErrorForCode(codes[0]))
	}
	if codes := x.marker(pb, 0, 1, false, topic, 0, 5); codes[0] != 0 || codes[1] != kerr.UnknownTopicOrPartition.Code { // 5
		t.Fatalf("ABORT: %v", codes)
	}
	waitValues(t, "read_committed", committed, []string{"a1", "a2", "p1"})
	if lso := x.listOffset(1); lso != 6 {
		t.Fatalf("LSO after the markers = %d, want 6", lso)
	}

	// The next transaction of pa: read_committed waits for its marker.
	if code := x.produce(txnID, txnTestBatch(pa, 0, 2, true, "a3")); code != 0 { // 6
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	if code := x.produce(nil, txnTestBatch(-1, -1, -1, false, "p2")); code != 0 { // 7
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	waitValues(t, "read_uncommitted", uncommitted, []string{"a1", "a2", "b1", "p1", "a3", "p2"})
	if lso := x.listOffset(1); lso != 6 {
		t.Fatalf("LSO with a3 open = %d, want 6", lso)
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = topic, []int32{0}
	dp.Topics = append(dp.Topics, dt)
	dresp, err := dp.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, ap := range dresp.Topics[0].Partitions[0].ActiveProducers {
		want := int64(-1)
		if ap.ProducerID == pa {
			want = 6
		}
		if ap.CurrentTxnStartOffset != want || ap.CoordinatorEpoch != 1 {
			t.Fatalf("DescribeProducers: %+v", ap)
		}
	}
	if codes := x.marker(pa, 0, 0, true, topic, 0); codes[0] != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("marker from an older coordinator: %v", kerr.ErrorForCode(codes[0]))
	}
	if codes := x.marker(pa, 0, 1, true, "nope", 0); codes[0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("marker for an unknown topic: %v", kerr.ErrorForCode(codes[0]))
	}
	// The consumer is parked in a long poll at offset 6; the COMMIT wakes it.
	type hookCall struct {
		topic  string
		part   int32
		pid    int64
		commit bool
	}
	var hookMu sync.Mutex
	var hooked []hookCall
	b.SetTxnMarkerHook(func(topic string, part int32, pid int64, commit bool) error {
		hookMu.Lock()
		defer hookMu.Unlock()
		hooked = append(hooked, hookCall{topic, part, pid, commit})
		if commit {
			return kerr.CoordinatorLoadInProgress
		}
		return nil
	})
	if codes := x.marker(pa, 0, 2, true, topic, 0); codes[0] != 0 { // 8
		t.Fatalf("COMMIT: %v", kerr.ErrorForCode(codes[0]))
	}
	waitValues(t, "read_committed", committed, []string{"a1", "a2", "p1", "a3", "p2"})
	if codes := x.marker(pa, 0, 2, true, topic, 0); codes[0] != 0 { // 9: a retry, harmless
		t.Fatalf("retried COMMIT: %v", kerr.ErrorForCode(codes[0]))
	}
	if lso := x.listOffset(1); lso != 10 {
		t.Fatalf("LSO after everything = %d, want 10", lso)
	}
	waitValues(t, "read_uncommitted", uncommitted, []string{"a1", "a2", "b1", "p1", "a3", "p2"})

	// A marker to __consumer_offsets is told to the group coordinator's hook once written; the
	// hook's error is the partition's.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	if resp, err := fc.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("FindCoordinator: %v %+v", err, resp)
	}
	for {
		codes := x.marker(pa, 0, 2, false, offsetsTopic, 0)
		if codes[0] == 0 {
			break
		}
		if codes[0] != kerr.UnknownTopicOrPartition.Code && codes[0] != kerr.NotLeaderForPartition.Code || ctx.Err() != nil {
			t.Fatalf("ABORT to %s: %v", offsetsTopic, kerr.ErrorForCode(codes[0]))
		}
		time.Sleep(20 * time.Millisecond) // the topic is being created
	}
	if codes := x.marker(pa, 0, 2, true, offsetsTopic, 1); codes[0] != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("COMMIT to %s with a failing hook: %v", offsetsTopic, kerr.ErrorForCode(codes[0]))
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	want := []hookCall{{offsetsTopic, 0, pa, false}, {offsetsTopic, 1, pa, true}}
	if !slices.Equal(hooked, want) {
		t.Fatalf("hook calls %+v, want %+v", hooked, want)
	}
}
