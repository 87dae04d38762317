package txn

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rig is a coordinator over a memStore, fake markers and a fake clock that leads every
// __transaction_state partition (4 of them) at coordinator epoch 1.
type rig struct {
	t       *testing.T
	c       *Coordinator
	clock   *fakeClock
	store   *memStore
	markers *fakeMarkers
	pids    *fakePIDs
	cfg     Config
}

func newRig(t *testing.T, mod func(*Config)) *rig {
	r := &rig{t: t, clock: newFakeClock(), store: newMemStore(), markers: &fakeMarkers{}, pids: &fakePIDs{}}
	r.cfg = Config{NumPartitions: 4, EndTxnHold: -1, Now: r.clock.Now, AfterFunc: r.clock.AfterFunc,
		TopicExists: func(topic string, _ int32) bool { return topic != "missing" }}
	if mod != nil {
		mod(&r.cfg)
	}
	r.start(1)
	return r
}

func (r *rig) start(epoch int32) {
	r.c = NewCoordinator(r.cfg, r.store, r.pids, r.markers)
	r.t.Cleanup(r.c.Close)
	for p := range int32(4) {
		if err := r.c.Elected(context.Background(), p, epoch); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) init(id string, timeoutMs int32) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, kmsg.StringPtr(id), timeoutMs
	return r.c.InitProducerID(context.Background(), req)
}

func (r *rig) add(id string, pid int64, epoch int16, topic string, parts ...int32) *kmsg.AddPartitionsToTxnResponse {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: parts}}
	return r.c.AddPartitionsToTxn(context.Background(), req)
}

func (r *rig) end(id string, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 3, id, pid, epoch, commit
	return r.c.EndTxn(context.Background(), req).ErrorCode
}

func (r *rig) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return r.c.DescribeTransactions(context.Background(), req).TransactionStates[0]
}

func addCodes(resp *kmsg.AddPartitionsToTxnResponse) map[TopicPartition]int16 {
	out := map[TopicPartition]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tp(t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

func TestCoordinatorCommit(t *testing.T) {
	r := newRig(t, nil)
	ip := r.init("tx", 60000)
	if ip.ErrorCode != 0 || ip.ProducerID != 1000 || ip.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId = %+v", ip)
	}
	codes := addCodes(r.add("tx", 1000, 0, "t", 0, 1))
	if len(codes) != 2 || codes[tp("t", 0)] != 0 || codes[tp("t", 1)] != 0 {
		t.Fatalf("AddPartitionsToTxn = %v", codes)
	}
	d := r.describe("tx")
	if d.ErrorCode != 0 || d.State != "Ongoing" || d.ProducerID != 1000 || d.StartTimestamp != t0.UnixMilli() ||
		len(d.Topics) != 1 || len(d.Topics[0].Partitions) != 2 || d.TimeoutMillis != 60000 {
		t.Fatalf("DescribeTransactions = %+v", d)
	}
	if code := r.end("tx", 1000, 0, true); code != 0 {
		t.Fatalf("EndTxn = %d", code)
	}
	p := PartitionFor("tx", 4)
	eventually(t, "CompleteCommit", func() bool {
		s := r.store.states(t, p, "tx")
		return len(s) == 4 && s[3] == "CompleteCommit"
	})
	if s := r.store.states(t, p, "tx"); s[0] != "Empty" || s[1] != "Ongoing" || s[2] != "PrepareCommit" {
		t.Fatalf("records = %v", s)
	}
	mk := r.markers.all()
	if len(mk) != 1 || !mk[0].Commit || mk[0].CoordinatorEpoch != 1 || len(mk[0].Partitions) != 2 {
		t.Fatalf("markers = %+v", mk)
	}
	lreq := kmsg.NewPtrListTransactionsRequest()
	lreq.StateFilters = []string{"CompleteCommit", "Bogus"}
	l := r.c.ListTransactions(context.Background(), lreq)
	if l.ErrorCode != 0 || len(l.TransactionStates) != 1 || l.TransactionStates[0].TransactionalID != "tx" ||
		len(l.UnknownStateFilters) != 1 || l.UnknownStateFilters[0] != "Bogus" {
		t.Fatalf("ListTransactions = %+v", l)
	}
	lreq.StateFilters = []string{"Ongoing"}
	if l := r.c.ListTransactions(context.Background(), lreq); len(l.TransactionStates) != 0 {
		t.Fatalf("ListTransactions Ongoing = %+v", l.TransactionStates)
	}
}

func TestCoordinatorBadInput(t *testing.T) {
	r := newRig(t, nil)
	if resp := r.init("tx", int32(DefaultMaxTimeout.Milliseconds())+1); resp.ErrorCode != kerr.InvalidTransactionTimeout.Code || resp.ProducerID != -1 {
		t.Fatalf("timeout above the maximum = %+v", resp)
	}
	if resp := r.init("tx", 0); resp.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("zero timeout = %d", resp.ErrorCode)
	}
	if resp := r.init("", 1000); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty id = %d", resp.ErrorCode)
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID = 4, kmsg.StringPtr("tx"), 1000, 5
	if resp := r.c.InitProducerID(context.Background(), req); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("producer id without epoch = %d", resp.ErrorCode)
	}
	// Unknown transactional ids.
	if codes := addCodes(r.add("nope", 1, 0, "t", 0)); codes[tp("t", 0)] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("add to an unknown id = %v", codes)
	}
	if code := r.end("nope", 1, 0, true); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("end of an unknown id = %d", code)
	}
	if d := r.describe("nope"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe unknown = %d", d.ErrorCode)
	}
	r.init("tx", 1000)
	// EndTxn without AddPartitions.
	if code := r.end("tx", 1000, 0, true); code != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn on Empty = %d", code)
	}
	// A missing topic fails the whole request; an internal topic is refused to clients.
	codes := addCodes(r.add("tx", 1000, 0, "missing", 0))
	if codes[tp("missing", 0)] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("missing topic = %v", codes)
	}
	req2 := kmsg.NewPtrAddPartitionsToTxnRequest()
	req2.Version, req2.TransactionalID, req2.ProducerID, req2.ProducerEpoch = 3, "tx", 1000, 0
	req2.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}, {Topic: "__consumer_offsets", Partitions: []int32{1}}}
	codes = addCodes(r.c.AddPartitionsToTxn(context.Background(), req2))
	if codes[tp("t", 0)] != kerr.OperationNotAttempted.Code || codes[tp("__consumer_offsets", 1)] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("internal topic = %v", codes)
	}
	if d := r.describe("tx"); d.State != "Empty" {
		t.Fatalf("a refused add changed the state: %+v", d)
	}
	// Old versions get INVALID_PRODUCER_EPOCH for a fenced producer.
	req2.Version, req2.ProducerEpoch, req2.Topics = 1, 7, req2.Topics[:1]
	if codes := addCodes(r.c.AddPartitionsToTxn(context.Background(), req2)); codes[tp("t", 0)] != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("v1 fenced = %v", codes)
	}
	req2.Version = 2
	if codes := addCodes(r.c.AddPartitionsToTxn(context.Background(), req2)); codes[tp("t", 0)] != kerr.ProducerFenced.Code {
		t.Fatalf("v2 fenced = %v", codes)
	}
}

func TestCoordinatorVerifyAndAddOffsets(t *testing.T) {
	r := newRig(t, nil)
	r.init("tx", 60000)
	aoreq := kmsg.NewPtrAddOffsetsToTxnRequest()
	aoreq.Version, aoreq.TransactionalID, aoreq.ProducerID, aoreq.ProducerEpoch, aoreq.Group = 3, "tx", 1000, 0, "g"
	if resp := r.c.AddOffsetsToTxn(context.Background(), aoreq); resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn = %d", resp.ErrorCode)
	}
	d := r.describe("tx")
	if len(d.Topics) != 1 || d.Topics[0].Topic != "__consumer_offsets" || d.Topics[0].Partitions[0] != PartitionFor("g", 50) {
		t.Fatalf("after AddOffsetsToTxn = %+v", d.Topics)
	}
	r.add("tx", 1000, 0, "t", 0)

	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	v := kmsg.NewAddPartitionsToTxnRequestTransaction()
	v.TransactionalID, v.ProducerID, v.ProducerEpoch, v.VerifyOnly = "tx", 1000, 0, true
	v.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	other := v
	other.TransactionalID = "unknown"
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{v, other}
	resp := r.c.AddPartitionsToTxn(context.Background(), req)
	if len(resp.Transactions) != 2 {
		t.Fatalf("v4 answer = %+v", resp)
	}
	got := resp.Transactions[0].Topics[0].Partitions
	if got[0].ErrorCode != 0 || got[1].ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("verify = %+v", got)
	}
	if c := resp.Transactions[1].Topics[0].Partitions[0].ErrorCode; c != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("verify of an unknown id = %d", c)
	}
	if d := r.describe("tx"); len(d.Topics) != 2 {
		t.Fatalf("verify changed the transaction: %+v", d.Topics)
	}
}

func TestCoordinatorRouting(t *testing.T) {
	clock := newFakeClock()
	store := newMemStore()
	release := make(chan struct{})
	store.replayFn = func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	leads := map[int32]bool{}
	c := NewCoordinator(Config{NumPartitions: 2, EndTxnHold: -1, Now: clock.Now, AfterFunc: clock.AfterFunc,
		Leads: func(p int32) bool { return leads[p] }}, store, &fakePIDs{}, &fakeMarkers{})
	defer c.Close()
	id0, id1 := "", ""
	for i := 0; id0 == "" || id1 == ""; i++ {
		id := string(rune('a' + i))
		if PartitionFor(id, 2) == 0 {
			id0 = id
		} else {
			id1 = id
		}
	}
	initCode := func(id string) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 1000
		return c.InitProducerID(context.Background(), req).ErrorCode
	}
	if code := initCode(id0); code != kerr.NotCoordinator.Code {
		t.Fatalf("unled = %d", code)
	}
	leads[1] = true
	if code := initCode(id1); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("election pending = %d", code)
	}
	done := make(chan error, 1)
	go func() { done <- c.Elected(context.Background(), 0, 3) }()
	eventually(t, "loading", func() bool { return initCode(id0) == kerr.CoordinatorLoadInProgress.Code })
	if l := c.ListTransactions(context.Background(), kmsg.NewPtrListTransactionsRequest()); l.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("ListTransactions while loading = %d", l.ErrorCode)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := initCode(id0); code != 0 {
		t.Fatalf("after the load = %d", code)
	}
	c.Resigned(0)
	if code := initCode(id0); code != kerr.NotCoordinator.Code {
		t.Fatalf("after resigning = %d", code)
	}
	// A failed replay leaves the partition unowned.
	store.replayFn = func(context.Context) error { return errors.New("boom") }
	if err := c.Elected(context.Background(), 0, 4); err == nil {
		t.Fatal("a failed replay returned nil")
	}
	if code := initCode(id0); code != kerr.NotCoordinator.Code {
		t.Fatalf("after a failed load = %d", code)
	}
}

// diedMidCommit is a rig whose coordinator wrote tx's PrepareCommit (partitions t-0 and t-1) and
// died before any leader answered the markers; the markers answer again.
func diedMidCommit(t *testing.T) *rig {
	r := newRig(t, nil)
	r.markers.block = true
	r.init("tx", 60000)
	r.add("tx", 1000, 0, "t", 0, 1)
	if code := r.end("tx", 1000, 0, true); code != 0 {
		t.Fatalf("EndTxn = %d", code)
	}
	eventually(t, "first markers", func() bool { return len(r.markers.all()) == 1 })
	r.c.Close() // the old coordinator dies; its marker write is canceled
	r.markers.mu.Lock()
	r.markers.block = false
	r.markers.mu.Unlock()
	return r
}

// TestFailoverMidCommit: the PrepareCommit record is durable but no leader answers the markers;
// the coordinator resigns, a new one (at a higher coordinator epoch) loads the partition, sends
// the markers again and writes CompleteCommit.
func TestFailoverMidCommit(t *testing.T) {
	r := diedMidCommit(t)
	r.start(2)
	p := PartitionFor("tx", 4)
	eventually(t, "CompleteCommit", func() bool {
		s := r.store.states(t, p, "tx")
		return s[len(s)-1] == "CompleteCommit"
	})
	mk := r.markers.all()
	if len(mk) != 2 || !mk[1].Commit || mk[1].CoordinatorEpoch != 2 || len(mk[1].Partitions) != 2 {
		t.Fatalf("markers = %+v", mk)
	}
	// The producer's retry of EndTxn succeeds against the new coordinator.
	if code := r.end("tx", 1000, 0, true); code != 0 {
		t.Fatalf("EndTxn retry = %d", code)
	}
}

// TestLoadWaitsForCommittedReplay: a new coordinator whose replay read records not yet committed
// (its Store a ReplayWaiter whose wait has not returned) keeps the partition loading and sends no
// marker of the PrepareCommit it found; once they are committed it completes the commit; if the
// wait fails (the leadership moved before the followers had them) it acts on nothing.
func TestLoadWaitsForCommittedReplay(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprint("committed=", committed), func(t *testing.T) {
			r := diedMidCommit(t)
			release := make(chan error)
			r.store.mu.Lock()
			r.store.commitWait = func(ctx context.Context, _ int32) error {
				select {
				case err := <-release:
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			r.store.mu.Unlock()
			r.start(2)
			if code := r.end("tx", 1000, 0, true); code != kerr.CoordinatorLoadInProgress.Code {
				t.Fatalf("EndTxn retry while the replay is not committed = %d, want COORDINATOR_LOAD_IN_PROGRESS", code)
			}
			if mk := r.markers.all(); len(mk) != 1 {
				t.Fatalf("markers sent from a replay not yet committed: %+v", mk)
			}
			p := PartitionFor("tx", 4)
			if !committed {
				for range 4 { // one wait per partition
					release <- errors.New("leadership moved")
				}
				eventually(t, "the failed load", func() bool { return r.end("tx", 1000, 0, true) == kerr.NotCoordinator.Code })
				if mk := r.markers.all(); len(mk) != 1 {
					t.Fatalf("markers sent from a replay that was never committed: %+v", mk)
				}
				return
			}
			for range 4 { // one wait per partition
				release <- nil
			}
			eventually(t, "CompleteCommit", func() bool {
				s := r.store.states(t, p, "tx")
				return s[len(s)-1] == "CompleteCommit"
			})
			if mk := r.markers.all(); len(mk) != 2 || !mk[1].Commit || mk[1].CoordinatorEpoch != 2 {
				t.Fatalf("markers = %+v", mk)
			}
		})
	}
}

func TestTimeoutAbortOnTheClock(t *testing.T) {
	r := newRig(t, nil)
	r.init("tx", 10000)
	r.add("tx", 1000, 0, "t", 0)
	r.clock.Advance(10 * time.Second)
	if len(r.markers.all()) != 0 {
		t.Fatal("aborted at the timeout itself")
	}
	p := PartitionFor("tx", 4)
	// The clock moves on a little at each poll: the runtime may arm the timeout's timer after the
	// Advance above (it does so once the Ongoing write is answered), from a time read before it.
	eventually(t, "CompleteAbort", func() bool {
		r.clock.Advance(time.Millisecond)
		s := r.store.states(t, p, "tx")
		return s[len(s)-1] == "CompleteAbort"
	})
	mk := r.markers.all()
	if len(mk) != 1 || mk[0].Commit || mk[0].ProducerEpoch != 1 {
		t.Fatalf("timeout markers = %+v", mk)
	}
	if code := r.end("tx", 1000, 0, true); code != kerr.InvalidProducerEpoch.Code && code != kerr.ProducerFenced.Code {
		t.Fatalf("zombie commit = %d", code)
	}
	// The next InitProducerId gets epoch 2.
	if ip := r.init("tx", 10000); ip.ErrorCode != 0 || ip.ProducerEpoch != 2 {
		t.Fatalf("InitProducerId = %+v", ip)
	}
}

func TestExpirationOnTheClock(t *testing.T) {
	r := newRig(t, func(c *Config) { c.IDExpiration = time.Hour })
	r.init("tx", 1000)
	r.clock.Advance(time.Hour)
	p := PartitionFor("tx", 4)
	eventually(t, "tombstone", func() bool {
		r.clock.Advance(time.Millisecond) // see TestTimeoutAbortOnTheClock
		s := r.store.states(t, p, "tx")
		return s[len(s)-1] == "tombstone"
	})
	eventually(t, "forgotten", func() bool { return r.describe("tx").ErrorCode == kerr.TransactionalIDNotFound.Code })
	// A reload does not bring it back; a new InitProducerId starts over with a new producer id.
	r.c.Close()
	r.start(2)
	if d := r.describe("tx"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("reloaded an expired id: %+v", d)
	}
	if ip := r.init("tx", 1000); ip.ErrorCode != 0 || ip.ProducerID != 1001 || ip.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId after expiry = %+v", ip)
	}
}

func TestProducerIDAllocationFailure(t *testing.T) {
	r := newRig(t, nil)
	r.pids.err = kerr.CoordinatorLoadInProgress
	if ip := r.init("tx", 1000); ip.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("InitProducerId = %+v", ip)
	}
	if d := r.describe("tx"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("a failed allocation left an id: %+v", d)
	}
}

func TestResignAnswersWaiters(t *testing.T) {
	r := newRig(t, nil)
	r.init("tx", 60000)
	block := make(chan struct{})
	r.store.mu.Lock()
	r.store.appendFn = func(int32, []Record) error { <-block; return nil }
	r.store.mu.Unlock()
	defer close(block)
	got := make(chan int16, 1)
	go func() { got <- addCodes(r.add("tx", 1000, 0, "t", 0))[tp("t", 0)] }()
	eventually(t, "pending add", func() bool {
		r.c.mu.Lock()
		defer r.c.mu.Unlock()
		e := r.c.txns["tx"]
		return e != nil && e.t.pending != nil
	})
	r.c.Resigned(PartitionFor("tx", 4))
	if code := <-got; code != kerr.NotCoordinator.Code {
		t.Fatalf("waiter after resign = %d", code)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	r := newRig(t, nil)
	r.markers.block = true
	r.init("tx", 60000)
	r.add("tx", 1000, 0, "t", 0)
	r.end("tx", 1000, 0, false)
	eventually(t, "markers", func() bool { return len(r.markers.all()) == 1 })
	r.c.Close()
	checkGoroutines(t, base)
}

// TestManyTransactionsConcurrently runs transactions of many ids at once on the real clock, with
// appends and marker writes that fail now and then, and checks that every id's records follow
// Kafka's transitions and that every transaction completes with the outcome asked for.
func TestManyTransactionsConcurrently(t *testing.T) {
	store := newMemStore()
	var n atomic.Int64
	store.appendFn = func(int32, []Record) error {
		if n.Add(1)%7 == 0 {
			return kerr.NotEnoughReplicas
		}
		return nil
	}
	var m atomic.Int64
	mk := &fakeMarkers{answer: func(mm Markers) map[TopicPartition]int16 {
		codes := map[TopicPartition]int16{}
		for _, tp := range mm.Partitions {
			if m.Add(1)%5 != 0 {
				codes[tp] = 0
			}
		}
		return codes
	}}
	c := NewCoordinator(Config{NumPartitions: 3, RetryBackoff: time.Millisecond, EndTxnHold: -1}, store, &fakePIDs{}, mk)
	defer c.Close()
	for p := range int32(3) {
		if err := c.Elected(context.Background(), p, 1); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	retry := func(what string, f func() int16) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code := f()
			if code == 0 {
				return
			}
			// What franz-go retries: CONCURRENT_TRANSACTIONS is not "retriable" to kerr, but
			// clients back off and retry it.
			if (code != kerr.ConcurrentTransactions.Code && !kerr.IsRetriable(kerr.ErrorForCode(code))) || time.Now().After(deadline) {
				t.Errorf("%s: %v", what, kerr.ErrorForCode(code))
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("tx%d", i)
			var pid int64
			var epoch int16
			retry(id+" init", func() int16 {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, kmsg.StringPtr(id), 60000
				r := c.InitProducerID(ctx, req)
				pid, epoch = r.ProducerID, r.ProducerEpoch
				return r.ErrorCode
			})
			for round := range 10 {
				retry(id+" add", func() int16 {
					req := kmsg.NewPtrAddPartitionsToTxnRequest()
					req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, id, pid, epoch
					req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{int32(round % 3), 5}}}
					return addCodes(c.AddPartitionsToTxn(ctx, req))[tp("t", 5)]
				})
				commit := round%3 != 1
				retry(id+" end", func() int16 {
					req := kmsg.NewPtrEndTxnRequest()
					req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 3, id, pid, epoch, commit
					return c.EndTxn(ctx, req).ErrorCode
				})
			}
		}()
	}
	wg.Wait()
	// Every id ends Complete, and its records follow the transitions.
	next := map[string][]string{
		"Empty":          {"Ongoing", "Empty"},
		"Ongoing":        {"Ongoing", "PrepareCommit", "PrepareAbort"},
		"PrepareCommit":  {"CompleteCommit"},
		"PrepareAbort":   {"CompleteAbort"},
		"CompleteCommit": {"Ongoing", "Empty"},
		"CompleteAbort":  {"Ongoing", "Empty"},
	}
	for i := range 12 {
		id := fmt.Sprintf("tx%d", i)
		p := PartitionFor(id, 3)
		eventually(t, id+" complete", func() bool {
			s := store.states(t, p, id)
			return len(s) > 0 && strings.HasPrefix(s[len(s)-1], "Complete")
		})
		s := store.states(t, p, id)
		commits := 0
		for j := 1; j < len(s); j++ {
			if !slices.Contains(next[s[j-1]], s[j]) {
				t.Fatalf("%s: %s after %s in %v", id, s[j], s[j-1], s)
			}
			if s[j] == "CompleteCommit" {
				commits++
			}
		}
		if commits != 7 {
			t.Fatalf("%s: %d commits, want 7: %v", id, commits, s)
		}
	}
}

func TestVerifyInProcess(t *testing.T) {
	r := newRig(t, nil)
	r.init("tx", 60000)
	r.add("tx", 1000, 0, "t", 0)
	codes := r.c.Verify("tx", 1000, 0, []TopicPartition{tp("t", 0), tp("t", 1)})
	if codes[tp("t", 0)] != 0 || codes[tp("t", 1)] != kerr.InvalidTxnState.Code {
		t.Fatalf("Verify = %v", codes)
	}
	if codes := r.c.Verify("", 1000, 0, []TopicPartition{tp("t", 0)}); codes[tp("t", 0)] != kerr.InvalidRequest.Code {
		t.Fatalf("Verify without an id = %v", codes)
	}
	r.c.Resigned(PartitionFor("tx", 4))
	if codes := r.c.Verify("tx", 1000, 0, []TopicPartition{tp("t", 0)}); codes[tp("t", 0)] != kerr.NotCoordinator.Code {
		t.Fatalf("Verify after resigning = %v", codes)
	}
}

// startStore is a memStore that is an AppendStarter: each append is acknowledged at once, or,
// with hold set, only once release is closed (a replica to wait for); fail makes appends fail.
type startStore struct {
	*memStore
	mu      sync.Mutex
	hold    chan struct{}
	fail    error
	started int
}

func (s *startStore) StartAppend(ctx context.Context, part int32, recs []Record) (func(context.Context) error, error) {
	s.mu.Lock()
	hold, fail := s.hold, s.fail
	s.started++
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	if err := s.memStore.Append(ctx, part, recs); err != nil {
		return nil, err
	}
	if hold == nil {
		return nil, nil
	}
	return func(ctx context.Context) error {
		select {
		case <-hold:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

// TestAppendStarter: with a Store that appends without waiting, a request's record is appended on
// the request's goroutine, so an addition acknowledged at once is answered before Start returns;
// one that must wait for replicas is answered when they acknowledge; a failed append answers the
// error; a whole commit (markers on the write goroutine) completes as with a plain Store.
func TestAppendStarter(t *testing.T) {
	store := &startStore{memStore: newMemStore()}
	c, r := singleCoordinator(t, Config{RetryBackoff: time.Millisecond}, store, &fakeMarkers{})
	ctx := context.Background()
	add := func(part int32) func() kmsg.Response {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, "tx", r.ProducerID, r.ProducerEpoch
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{part}}}
		return c.Start(ctx, req)
	}
	code := func(resp kmsg.Response) int16 {
		return resp.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
	}

	// Acknowledged at once: the answer is there when Start returns.
	c.mu.Lock()
	e := c.txns["tx"]
	c.mu.Unlock()
	wait := add(0)
	c.mu.Lock()
	answered := len(e.waiters) == 0
	c.mu.Unlock()
	if !answered {
		t.Fatal("an addition acknowledged at once was not answered by Start")
	}
	if got := code(wait()); got != 0 {
		t.Fatalf("AddPartitionsToTxn = %d", got)
	}

	// Waiting for replicas: answered once they acknowledge.
	store.mu.Lock()
	store.hold = make(chan struct{})
	store.mu.Unlock()
	got := make(chan int16, 1)
	wait = add(1)
	go func() { got <- code(wait()) }()
	select {
	case c := <-got:
		t.Fatalf("answered %d before the replicas acknowledged", c)
	case <-time.After(20 * time.Millisecond):
	}
	store.mu.Lock()
	close(store.hold)
	store.hold = nil
	store.mu.Unlock()
	if c := <-got; c != 0 {
		t.Fatalf("AddPartitionsToTxn after the acknowledgement = %d", c)
	}

	// A failed append.
	store.mu.Lock()
	store.fail = kerr.NotEnoughReplicas
	store.mu.Unlock()
	if c := code(add(2)()); c == 0 {
		t.Fatal("a failed append was answered 0")
	}
	store.mu.Lock()
	store.fail = nil
	store.mu.Unlock()

	// A commit: Prepare on this goroutine, markers and Complete on the write goroutine.
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, "tx", r.ProducerID, r.ProducerEpoch, true
	if c := c.EndTxn(ctx, end).ErrorCode; c != 0 {
		t.Fatalf("EndTxn = %d", c)
	}
	if c := code(add(0)()); c != 0 { // queued behind the Complete record if it is still written
		t.Fatalf("the next transaction's AddPartitionsToTxn = %d", c)
	}
	ld := newLoader()
	for _, rec := range store.logs[0] {
		if err := ld.add(rec); err != nil {
			t.Fatal(err)
		}
	}
	if m := ld.txns["tx"]; m.state != stateOngoing || len(m.parts) != 1 {
		t.Fatalf("last record: %v %v", m.state, m.parts)
	}
	var states []state
	for _, rec := range store.logs[0] {
		l := newLoader()
		if err := l.add(rec); err == nil {
			states = append(states, l.txns["tx"].state)
		}
	}
	want := []state{stateEmpty, stateOngoing, stateOngoing, statePrepareCommit, stateCompleteCommit, stateOngoing}
	if !slices.Equal(states, want) {
		t.Fatalf("records %v, want %v", states, want)
	}
}
