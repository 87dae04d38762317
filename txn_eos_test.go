package minikraft_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// TestExactlyOnceGroupTransactSession runs franz-go's consume-transform-produce loop
// (kgo.GroupTransactSession: consume in a group, produce, commit the group's offsets in the same
// transaction) on three nodes, and while it runs stops and restarts the transaction coordinator
// (with a transaction open on it) and kills the leader of an output partition (again with a
// transaction open). When the loop has consumed everything, a read_committed consumer of the
// output must see each input record exactly once: an aborted transaction's output never shows,
// and a committed one's offsets make sure its input is not consumed again.
func TestExactlyOnceGroupTransactSession(t *testing.T) {
	const (
		in, out = "eos-in", "eos-out"
		txnID   = "eos-tx"
		group   = "eos-group"
		n       = 2000 // input records
		batch   = 10   // at most this many records per transaction
	)
	c := minikraft.NewCluster(t, 3, minikraft.Quiet(),
		minikraft.WithConfig("transaction.state.log.num.partitions", "5"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	for _, topic := range []string{in, out} {
		if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitForLeaders(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(in))
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "%d", i%7), Value: fmt.Appendf(nil, "r%05d", i)}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	// The faults, each run by the transform loop with a transaction open (records produced, End
	// not yet called) once that many input records have been committed.
	var restarted sync.WaitGroup
	var killed = -1
	faults := []struct {
		after int
		do    func()
	}{
		{n / 5, func() {
			coord := txnCoordinator(ctx, t, adm, txnID)
			t.Logf("stopping node %d, the coordinator of %q", coord, txnID)
			if err := c.StopNode(int(coord)); err != nil {
				t.Error(err)
				return
			}
			// Back after a while, the transform loop running meanwhile.
			restarted.Add(1)
			go func() {
				defer restarted.Done()
				time.Sleep(2 * time.Second)
				t.Logf("restarting node %d", coord)
				if err := c.RestartNode(int(coord)); err != nil {
					t.Error(err)
				}
			}()
		}},
		{n / 2, func() {
			restarted.Wait()
			leader := c.Node(int(txnCoordinatorAny(c))).Meta().State().Partition(out, 1).Leader
			t.Logf("killing node %d, the leader of %s/1", leader, out)
			if err := c.KillNode(int(leader)); err != nil {
				t.Error(err)
				return
			}
			killed = int(leader)
		}},
	}

	var committed atomic.Int64 // input records whose transaction committed
	sessionOpts := []kgo.Opt{
		kgo.SeedBrokers(c.Addrs()...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(20 * time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.DefaultProduceTopic(out),
	}
	sess, err := kgo.NewGroupTransactSession(sessionOpts...)
	if err != nil {
		t.Fatal(err)
	}
	var sessions, aborted int
	defer func() { sess.Close() }()
	// lag is the group's committed offsets still short of the input's end (stable offsets only).
	lag := func() int64 {
		ends, err := adm.ListEndOffsets(ctx, in)
		if err != nil {
			return -1
		}
		offs, err := adm.FetchOffsetsForTopics(ctx, group, in)
		if err != nil {
			return -1
		}
		var l int64
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := offs.Lookup(in, e.Partition)
			if !ok || o.Err != nil {
				l += e.Offset
				return
			}
			l += e.Offset - o.At
		})
		return l
	}
	for {
		if ctx.Err() != nil {
			t.Fatalf("the transform loop did not finish: %d of %d committed, lag %d", committed.Load(), n, lag())
		}
		if err := sess.Begin(); err != nil {
			t.Fatalf("Begin: %v", err)
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := sess.PollRecords(pctx, batch)
		pcancel()
		var produced []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			produced = append(produced, &kgo.Record{Key: r.Value, Value: r.Value})
		})
		produceErr := sess.ProduceSync(ctx, produced...).FirstErr()
		if len(faults) > 0 && committed.Load() >= int64(faults[0].after) && len(produced) > 0 {
			faults[0].do()
			faults = faults[1:]
		}
		ok, endErr := sess.End(ctx, kgo.TransactionEndTry(produceErr == nil))
		switch {
		case endErr != nil:
			// The session cannot go on (fenced, or out of retries): a new instance with the same
			// transactional id fences the old one and aborts what it left open, as an
			// application restarting would.
			t.Logf("End: %v; a new session", endErr)
			sess.Close()
			if sessions++; sessions > 10 {
				t.Fatalf("too many new sessions; last error %v", endErr)
			}
			if sess, err = kgo.NewGroupTransactSession(sessionOpts...); err != nil {
				t.Fatal(err)
			}
		case ok:
			committed.Add(int64(len(produced)))
		default:
			aborted++
		}
		if len(produced) == 0 && len(faults) == 0 && lag() == 0 {
			break
		}
	}
	sess.Close()
	restarted.Wait()
	t.Logf("transform done: %d input records in committed transactions, %d aborted ends, %d new sessions, node %d killed",
		committed.Load(), aborted, sessions, killed)

	// Every output record, read_committed, from any surviving node.
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(out),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	var total int
	quietSince := time.Now()
	// Done when every input record showed and nothing more came for a while: a duplicate comes
	// from a transaction committed before the end of the output, which the consumer reads in order.
	for len(seen) < n || time.Since(quietSince) < 3*time.Second {
		if ctx.Err() != nil {
			t.Fatalf("read_committed saw %d of %d input records (%d records)", len(seen), n, total)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cons.PollFetches(pctx)
		pcancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
			quietSince = time.Now()
		})
	}
	var dups int
	for v, k := range seen {
		if k > 1 {
			dups++
			if dups <= 10 {
				t.Errorf("%s is in the output %d times", v, k)
			}
		}
	}
	for i := range n {
		if v := fmt.Sprintf("r%05d", i); seen[v] == 0 {
			t.Errorf("%s is missing from the output", v)
		}
	}
	if dups > 0 || total != n {
		t.Fatalf("the output holds %d records for %d input records (%d duplicated)", total, n, dups)
	}
}

// txnCoordinator is the node that FindCoordinator (key type 1) names for the transactional id.
func txnCoordinator(ctx context.Context, t *testing.T, adm *kadm.Client, id string) int32 {
	t.Helper()
	for {
		if c, ok := adm.FindTxnCoordinators(ctx, id)[id]; ok && c.Err == nil {
			return c.NodeID
		}
		if ctx.Err() != nil {
			t.Fatalf("FindCoordinator(%q): %v", id, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// txnCoordinatorAny is a running node.
func txnCoordinatorAny(c *minikraft.Cluster) int32 {
	for i := range c.Addrs() {
		if c.Node(i) != nil {
			return int32(i)
		}
	}
	return 0
}
