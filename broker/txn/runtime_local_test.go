package txn

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// localMarkers is a fakeMarkers that is a LocalMarkerWriter: atOnce says whether every write
// involves this node only.
type localMarkers struct {
	*fakeMarkers
	atOnce atomic.Bool
	asked  atomic.Int32
}

func (l *localMarkers) WritesAtOnce(Markers) bool {
	l.asked.Add(1)
	return l.atOnce.Load()
}

// TestLocalMarkerWriter: with markers that involve no other node and records durable at once
// (one node), a commit runs whole on the EndTxn's goroutine: when Start returns, the markers
// are written, the answer is there and the Complete record is in the log. Markers that would
// wait on another node are not written on the request's goroutine: Start returns while the
// leader has not answered (EndTxn's answer then follows the hold, Config.EndTxnHold).
func TestLocalMarkerWriter(t *testing.T) {
	store := &startStore{memStore: newMemStore()}
	markers := &localMarkers{fakeMarkers: &fakeMarkers{}}
	markers.atOnce.Store(true)
	c, r := singleCoordinator(t, Config{RetryBackoff: time.Millisecond}, store, markers)
	ctx := context.Background()
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, "tx", r.ProducerID, r.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, "tx", r.ProducerID, r.ProducerEpoch, true
	c.mu.Lock()
	e := c.txns["tx"]
	c.mu.Unlock()

	if code := c.AddPartitionsToTxn(ctx, add).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn = %d", code)
	}
	wait := c.Start(ctx, end)
	c.mu.Lock()
	answered, st := len(e.waiters) == 0, e.t.state
	c.mu.Unlock()
	if !answered || st != stateCompleteCommit {
		t.Fatalf("after Start: answered %v, state %v; want the commit complete", answered, st)
	}
	if got := markers.all(); len(got) != 1 || !got[0].Commit || len(got[0].Partitions) != 2 {
		t.Fatalf("markers written: %+v", got)
	}
	if code := wait().(*kmsg.EndTxnResponse).ErrorCode; code != 0 {
		t.Fatalf("EndTxn = %d", code)
	}
	if got := store.states(t, 0, "tx"); !slices.Equal(got[len(got)-2:], []string{"PrepareCommit", "CompleteCommit"}) {
		t.Fatalf("records %v", got)
	}

	// Markers that would wait on another node: Start returns while their leader is silent.
	markers.atOnce.Store(false)
	markers.mu.Lock()
	markers.block = true
	markers.mu.Unlock()
	if code := c.AddPartitionsToTxn(ctx, add).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn = %d", code)
	}
	asked := markers.asked.Load()
	started := make(chan func() kmsg.Response, 1)
	go func() { started <- c.Start(ctx, end) }()
	select {
	case wait = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Start blocked on markers that wait on another node")
	}
	if markers.asked.Load() == asked {
		t.Fatal("the coordinator did not ask whether the markers are written at once")
	}
	c.Close() // ends the blocked write
	wait()
}
