package broker_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker/txn"
	"github.com/minikraft/minikraft/wire"
)

// markerLog records the WriteTxnMarkers a node received, when the test stands in for the
// partition side's handler (key 27) on a broker that does not serve it.
type markerLog struct {
	mu      sync.Mutex
	markers []kmsg.WriteTxnMarkersRequestMarker
}

func (l *markerLog) handle(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	l.mu.Lock()
	l.markers = append(l.markers, req.Markers...)
	l.mu.Unlock()
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p})
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return wire.Done(resp, nil)
}

func (l *markerLog) all() []kmsg.WriteTxnMarkersRequestMarker {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]kmsg.WriteTxnMarkersRequestMarker(nil), l.markers...)
}

// serveMarkers makes node i answer WriteTxnMarkers with the test's recorder unless it already
// serves the API; it returns nil when the node's own handler answers.
func serveMarkers(c *minikraft.Cluster, i int) *markerLog {
	if _, _, ok := c.Node(i).Mux().Versions(27); ok {
		return nil
	}
	l := &markerLog{}
	c.Node(i).Mux().Handle(27, 0, 1, l.handle)
	return l
}

func describeTxn(ctx context.Context, t *testing.T, cl *wire.Client, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return request[*kmsg.DescribeTransactionsResponse](ctx, t, cl, req).TransactionStates[0]
}

// TestTransactionCoordinatorOverTheWire drives the coordinator with raw requests on one node:
// FindCoordinator key type 1 creates __transaction_state and names the node; InitProducerId,
// AddPartitionsToTxn (v3, and v4's verification), EndTxn; the markers go out as WriteTxnMarkers to
// the partition leader and the transaction completes; the state survives a restart (replayed from
// __transaction_state) and the next InitProducerId bumps the epoch.
func TestTransactionCoordinatorOverTheWire(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.WithConfig("transaction.state.log.num.partitions", "5"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := rawClient(t, c, 0)
	markers := serveMarkers(c, 0)

	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", 2, 1
	ct.Topics, ct.TimeoutMillis = []kmsg.CreateTopicsRequestTopic{rt}, 30000
	if r := request[*kmsg.CreateTopicsResponse](ctx, t, cl, ct); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 4, 1, []string{"tx"}
	if r := request[*kmsg.FindCoordinatorResponse](ctx, t, cl, fc); r.Coordinators[0].ErrorCode != 0 || r.Coordinators[0].NodeID != 0 {
		t.Fatalf("FindCoordinator: %+v", r.Coordinators[0])
	}
	fc.CoordinatorType = 2
	if r := request[*kmsg.FindCoordinatorResponse](ctx, t, cl, fc); r.Coordinators[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("FindCoordinator of an unknown type: %+v", r.Coordinators[0])
	}

	// InitProducerId until the partition is loaded (COORDINATOR_LOAD_IN_PROGRESS meanwhile).
	var pid int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.Version, ip.TransactionalID, ip.TransactionTimeoutMillis = 4, kmsg.StringPtr("tx"), 60000
		r := request[*kmsg.InitProducerIDResponse](ctx, t, cl, ip)
		if r.ErrorCode == 0 {
			if r.ProducerEpoch != 0 {
				t.Fatalf("InitProducerId epoch %d", r.ProducerEpoch)
			}
			pid = r.ProducerID
			break
		}
		if e := kerr.ErrorForCode(r.ErrorCode); !kerr.IsRetriable(e) || time.Now().After(deadline) {
			t.Fatalf("InitProducerId: %v", e)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version, ip.TransactionalID, ip.TransactionTimeoutMillis = 4, kmsg.StringPtr("tx"), 3600001
	if r := request[*kmsg.InitProducerIDResponse](ctx, t, cl, ip); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("a timeout above transaction.max.timeout.ms: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.Version, ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = 3, "tx", pid, 0
	ap.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	for _, t2 := range request[*kmsg.AddPartitionsToTxnResponse](ctx, t, cl, ap).Topics {
		for _, p := range t2.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("AddPartitionsToTxn %s-%d: %v", t2.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
	ap.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "nope", Partitions: []int32{0}}}
	if r := request[*kmsg.AddPartitionsToTxnResponse](ctx, t, cl, ap); len(r.Topics) != 1 || r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("AddPartitionsToTxn of a missing topic: %+v", r.Topics)
	}

	v := kmsg.NewPtrAddPartitionsToTxnRequest()
	v.Version = 4
	vt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	vt.TransactionalID, vt.ProducerID, vt.ProducerEpoch, vt.VerifyOnly = "tx", pid, 0, true
	vt.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "t", Partitions: []int32{1}}}
	v.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{vt}
	if r := request[*kmsg.AddPartitionsToTxnResponse](ctx, t, cl, v); len(r.Transactions) != 1 || r.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("verification: %+v", r.Transactions)
	}

	et := kmsg.NewPtrEndTxnRequest()
	et.Version, et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = 3, "tx", pid, 0, true
	if r := request[*kmsg.EndTxnResponse](ctx, t, cl, et); r.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	waitState := func(cl *wire.Client, want string) kmsg.DescribeTransactionsResponseTransactionState {
		t.Helper()
		var d kmsg.DescribeTransactionsResponseTransactionState
		deadline := time.Now().Add(30 * time.Second)
		for {
			d = describeTxn(ctx, t, cl, "tx")
			if d.ErrorCode == 0 && d.State == want {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("transaction is %q (%v), want %s", d.State, kerr.ErrorForCode(d.ErrorCode), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	d := waitState(cl, "CompleteCommit")
	if d.ProducerID != pid || d.ProducerEpoch != 0 || len(d.Topics) != 0 {
		t.Fatalf("DescribeTransactions: %+v", d)
	}
	if markers != nil {
		got := markers.all()
		if len(got) != 1 || !got[0].Committed || got[0].ProducerID != pid || len(got[0].Topics) != 1 || len(got[0].Topics[0].Partitions) != 2 {
			t.Fatalf("WriteTxnMarkers received: %+v", got)
		}
	}
	lt := kmsg.NewPtrListTransactionsRequest()
	if r := request[*kmsg.ListTransactionsResponse](ctx, t, cl, lt); r.ErrorCode != 0 || len(r.TransactionStates) != 1 {
		t.Fatalf("ListTransactions: %+v", r)
	}

	// franz-go's admin client reads both answers (kafka-transactions does the same requests).
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	adm := kadm.NewClient(kc)
	described, err := adm.DescribeTransactions(ctx, "tx")
	if err != nil || described["tx"].Err != nil || described["tx"].State != "CompleteCommit" || described["tx"].ProducerID != pid {
		t.Fatalf("kadm DescribeTransactions: %v %+v", err, described)
	}
	listed, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"})
	if err != nil || len(listed) != 1 || listed["tx"].ProducerID != pid {
		t.Fatalf("kadm ListTransactions: %v %+v", err, listed)
	}

	// A crash and a restart: the coordinator replays __transaction_state.
	if err := c.KillNode(0); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(0); err != nil {
		t.Fatal(err)
	}
	var cl2 *wire.Client
	eventuallyDial := time.Now().Add(30 * time.Second)
	for cl2 == nil {
		conn, err := net.Dial("tcp", c.Addrs()[0])
		if err != nil {
			if time.Now().After(eventuallyDial) {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		cl2 = wire.NewClient(conn, "test", 16<<20)
		defer cl2.Close()
	}
	d = waitState(cl2, "CompleteCommit")
	if d.ProducerID != pid || d.ProducerEpoch != 0 {
		t.Fatalf("after the restart: %+v", d)
	}
	ip.TransactionTimeoutMillis = 60000
	if r := request[*kmsg.InitProducerIDResponse](ctx, t, cl2, ip); r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("InitProducerId after the restart: %+v", r)
	}
}

// TestTransactionalProducer runs franz-go's transactional producer: commit one transaction, abort
// another; a read_committed consumer sees the committed records only. It needs the partition
// side of transactions (transactional produce, WriteTxnMarkers, read_committed): until the broker
// serves WriteTxnMarkers it is skipped.
func TestTransactionalProducer(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.WithConfig("transaction.state.log.num.partitions", "3"))
	if _, _, ok := c.Node(0).Mux().Versions(27); !ok {
		t.Skip("the broker does not serve WriteTxnMarkers (the partition side of issue 14) yet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "tt", 3, 1
	ct.Topics, ct.TimeoutMillis = []kmsg.CreateTopicsRequestTopic{rt}, 30000
	if _, err := ct.RequestWith(ctx, admin); err != nil {
		t.Fatal(err)
	}

	p, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("producer"),
		kgo.DefaultProduceTopic("tt"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for round, commit := range []bool{true, false, true} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			v := []byte{byte(round), byte(i)}
			if err := p.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatalf("round %d: produce: %v", round, err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("round %d: EndTransaction(%v): %v", round, commit, err)
		}
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("tt"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[[2]byte]bool{}
	for len(seen) < 12 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read_committed saw %d of 12 committed records: %v", len(seen), err)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("fetch: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			k := [2]byte{r.Value[0], r.Value[1]}
			if r.Value[0] == 1 {
				t.Errorf("read_committed saw aborted record %v", k)
			}
			if seen[k] {
				t.Errorf("record %v twice", k)
			}
			seen[k] = true
		})
	}
}

// dialNode connects to node i, retrying while its client listener is not yet open.
func dialNode(t *testing.T, c *minikraft.Cluster, i int) *wire.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", c.Addrs()[i])
		if err == nil {
			cl := wire.NewClient(conn, "test", 16<<20)
			t.Cleanup(func() { cl.Close() })
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findTxnCoordinator asks node i for the coordinator of id until one is named.
func findTxnCoordinator(ctx context.Context, t *testing.T, cl *wire.Client, id string) int32 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 4, 1, []string{id}
		r := request[*kmsg.FindCoordinatorResponse](ctx, t, cl, fc).Coordinators[0]
		if r.ErrorCode == 0 {
			return r.NodeID
		}
		if time.Now().After(deadline) {
			t.Fatalf("FindCoordinator: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransactionCoordinatorFailoverMidCommit: on three nodes, a commit's PrepareCommit record is
// durable but no partition leader takes its markers; the coordinator's node stops; the new leader
// of its __transaction_state partition loads it, sends the markers again (with its own, higher
// coordinator epoch) and completes the commit. The producer's retried EndTxn then succeeds.
func TestTransactionCoordinatorFailoverMidCommit(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.WithConfig("transaction.state.log.num.partitions", "3"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	open := make(chan struct{})
	logs := make([]*markerLog, 3)
	for i := range 3 {
		logs[i] = serveMarkers(c, i)
		c.Node(i).Mux().Intercept(27, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
			select {
			case <-open:
			case <-ctx.Done():
				return wire.Done(nil, ctx.Err())
			}
			return next(ctx, r)
		})
	}
	cl0 := rawClient(t, c, 0)
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", 2, 3
	ct.Topics, ct.TimeoutMillis = []kmsg.CreateTopicsRequestTopic{rt}, 30000
	if r := request[*kmsg.CreateTopicsResponse](ctx, t, cl0, ct); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	first := findTxnCoordinator(ctx, t, cl0, "tx")
	if err := c.WaitForLeaders(ctx, "__transaction_state"); err != nil {
		t.Fatal(err)
	}
	cl := dialNode(t, c, int(first))

	var pid int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.Version, ip.TransactionalID, ip.TransactionTimeoutMillis = 4, kmsg.StringPtr("tx"), 60000
		r := request[*kmsg.InitProducerIDResponse](ctx, t, cl, ip)
		if r.ErrorCode == 0 {
			pid = r.ProducerID
			break
		}
		if e := kerr.ErrorForCode(r.ErrorCode); !kerr.IsRetriable(e) || time.Now().After(deadline) {
			t.Fatalf("InitProducerId: %v", e)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.Version, ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = 3, "tx", pid, 0
	ap.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	if r := request[*kmsg.AddPartitionsToTxnResponse](ctx, t, cl, ap); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %+v", r.Topics)
	}
	et := kmsg.NewPtrEndTxnRequest()
	et.Version, et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = 3, "tx", pid, 0, true
	if r := request[*kmsg.EndTxnResponse](ctx, t, cl, et); r.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := describeTxn(ctx, t, cl, "tx"); d.State != "PrepareCommit" {
		t.Fatalf("before the failover: %+v", d)
	}

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("__transaction_state")}}
	firstEpoch := int32(-1)
	for _, p := range request[*kmsg.MetadataResponse](ctx, t, cl, md).Topics[0].Partitions {
		if p.Partition == txn.PartitionFor("tx", 3) {
			firstEpoch = p.LeaderEpoch
		}
	}
	if err := c.StopNode(int(first)); err != nil {
		t.Fatal(err)
	}
	close(open)
	other := (int(first) + 1) % 3
	clo := dialNode(t, c, other)
	var next int32
	eventuallyDo := time.Now().Add(60 * time.Second)
	for {
		next = findTxnCoordinator(ctx, t, clo, "tx")
		if next != first {
			break
		}
		if time.Now().After(eventuallyDo) {
			t.Fatal("the coordinator did not move")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cln := dialNode(t, c, int(next))
	for {
		d := describeTxn(ctx, t, cln, "tx")
		if d.ErrorCode == 0 && d.State == "CompleteCommit" {
			break
		}
		if time.Now().After(eventuallyDo) {
			t.Fatalf("after the failover: %+v (%v)", d, kerr.ErrorForCode(d.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := request[*kmsg.EndTxnResponse](ctx, t, cln, et); r.ErrorCode != 0 {
		t.Fatalf("the producer's retried EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The new coordinator sent markers with its own epoch, above the first's (the first's may
	// get through too: it was held, not refused, and its outcome is the same).
	var epochs []int32
	for i, l := range logs {
		if l == nil || i == int(first) {
			continue
		}
		for _, m := range l.all() {
			if m.ProducerID == pid && m.Committed {
				epochs = append(epochs, m.CoordinatorEpoch)
			}
		}
	}
	if logs[other] != nil && !slices.ContainsFunc(epochs, func(e int32) bool { return e > firstEpoch }) {
		t.Fatalf("no COMMIT marker of the new coordinator (epoch above %d) reached a live leader: %v", firstEpoch, epochs)
	}
}
