package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// requestCounter counts the requests a franz-go client writes, by API key.
type requestCounter struct{ n [100]atomic.Int64 }

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key >= 0 && int(key) < len(c.n) {
		c.n[key].Add(1)
	}
}

func (c *requestCounter) count(key int16) int64 { return c.n[key].Load() }

// txnVersionFeature returns the transaction.version feature's supported range and finalized level
// (-1: not finalized) from node 0's ApiVersions.
func txnVersionFeature(ctx context.Context, t *testing.T, c *minikraft.Cluster) (lo, hi, level int16) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "test", "1"
	av := request[*kmsg.ApiVersionsResponse](ctx, t, rawClient(t, c, 0), req)
	lo, hi, level = -1, -1, -1
	for _, f := range av.SupportedFeatures {
		if f.Name == "transaction.version" {
			lo, hi = f.MinVersion, f.MaxVersion
		}
	}
	for _, f := range av.FinalizedFeatures {
		if f.Name == "transaction.version" {
			level = f.MaxVersionLevel
		}
	}
	if av.FinalizedFeaturesEpoch < 0 {
		t.Fatalf("FinalizedFeaturesEpoch %d: clients would ignore the finalized features", av.FinalizedFeaturesEpoch)
	}
	return lo, hi, level
}

// readCommitted reads topic from the start with read_committed until it has want records (or
// ctx ends) and returns their values.
func readCommitted(ctx context.Context, t *testing.T, c *minikraft.Cluster, topic string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < want && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	// Anything more (an aborted record that should not be there) shows in one more short poll.
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	return got
}

// TestTransactionVersion2 runs franz-go's transactional producer and GroupTransactSession
// against a node advertising transaction.version 2 (KIP-890 part 2): franz-go then sends no
// AddPartitionsToTxn and no AddOffsetsToTxn (Produce v12 and TxnOffsetCommit v5 add their
// partitions), EndTxn v5 bumps the epoch on every commit and abort, and read_committed consumers
// see committed transactions whole and nothing of aborted ones. At transaction.version 0
// (minikraft.transaction.version) the same client adds partitions itself and the epoch stays.
func TestTransactionVersion2(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.Quiet(), minikraft.WithConfig("transaction.state.log.num.partitions", "3"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if lo, hi, level := txnVersionFeature(ctx, t, c); lo != 0 || hi != 2 || level != 2 {
		t.Fatalf("transaction.version: supported %d-%d, finalized %d; want 0-2, 2", lo, hi, level)
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for _, topic := range []string{"tv2-plain", "tv2-in", "tv2-out"} {
		if _, err := kadm.NewClient(adm).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("producer", func(t *testing.T) { runTV2Producer(ctx, t, c, "tv2-plain", "tv2-producer") })

	t.Run("GroupTransactSession", func(t *testing.T) {
		const n = 60
		in, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("tv2-in"))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		for i := range n {
			if err := in.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%03d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		var counts requestCounter
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("tv2-eos"),
			kgo.ConsumerGroup("tv2-group"), kgo.ConsumeTopics("tv2-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic("tv2-out"),
			kgo.WithHooks(&counts))
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		// Every third transaction is aborted: its input is consumed again and its output, tagged
		// with the attempt, must never be read.
		consumed := map[string]bool{}
		for attempt := 0; len(consumed) < n; attempt++ {
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d: %v", len(consumed), n, ctx.Err())
			}
			fs := sess.PollRecords(ctx, 10)
			if fs.NumRecords() == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Fatal(err)
			}
			abort := attempt%3 == 2
			var wg sync.WaitGroup
			fs.EachRecord(func(r *kgo.Record) {
				wg.Add(1)
				sess.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s@%d", r.Value, attempt)}, func(_ *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			})
			wg.Wait()
			committed, err := sess.End(ctx, kgo.TransactionEndTry(!abort))
			if err != nil {
				t.Fatalf("attempt %d: End: %v", attempt, err)
			}
			if committed {
				fs.EachRecord(func(r *kgo.Record) { consumed[string(r.Value)] = true })
			}
		}
		if n := counts.count(24) + counts.count(25); n != 0 {
			t.Errorf("franz-go sent %d AddPartitionsToTxn/AddOffsetsToTxn to a transaction.version 2 node", n)
		}
		if counts.count(28) == 0 {
			t.Error("no TxnOffsetCommit sent")
		}
		got := readCommitted(ctx, t, c, "tv2-out", n)
		seen := map[string]bool{}
		for _, v := range got {
			input, attempt, _ := strings.Cut(v, "@")
			var a int
			fmt.Sscan(attempt, &a)
			if a%3 == 2 {
				t.Errorf("read_committed saw %q of an aborted transaction", v)
			}
			if seen[input] {
				t.Errorf("input %s seen twice in the output", input)
			}
			seen[input] = true
		}
		if len(seen) != n {
			t.Errorf("output holds %d of %d inputs", len(seen), n)
		}
	})
}

// TestTransactionVersion0 checks that a node configured at transaction.version 0 finalizes no
// level, so franz-go keeps to AddPartitionsToTxn and EndTxn v4 (the epoch stays), and its
// transactions still work.
func TestTransactionVersion0(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.Quiet(), minikraft.WithConfig("transaction.state.log.num.partitions", "3"),
		minikraft.WithConfig("minikraft.transaction.version", "0"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if lo, hi, level := txnVersionFeature(ctx, t, c); lo != 0 || hi != 2 || level != -1 {
		t.Fatalf("transaction.version: supported %d-%d, finalized %d; want 0-2, none", lo, hi, level)
	}
	var counts requestCounter
	p, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("tv0"), kgo.DefaultProduceTopic("tv0"),
		kgo.AllowAutoTopicCreation(), kgo.WithHooks(&counts))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for round, commit := range []bool{false, true} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", round)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	if counts.count(24) == 0 {
		t.Error("franz-go sent no AddPartitionsToTxn at transaction.version 0")
	}
	if d := describeTxn(ctx, t, rawClient(t, c, 0), "tv0"); d.ProducerEpoch != 0 {
		t.Errorf("epoch %d after two transactions at version 0, want 0", d.ProducerEpoch)
	}
	checkValues(t, readCommitted(ctx, t, c, "tv0", 1), []string{"v1"})
}

// checkValues compares what read_committed read with the committed values, in any order.
func checkValues(t *testing.T, got, want []string) {
	t.Helper()
	w := map[string]int{}
	for _, v := range want {
		w[v]++
	}
	for _, v := range got {
		if w[v] == 0 {
			t.Errorf("read_committed saw %q (aborted or twice)", v)
			continue
		}
		w[v]--
	}
	for v, k := range w {
		if k > 0 {
			t.Errorf("read_committed missed %q", v)
		}
	}
}

// runTV2Producer runs five transactions (commit, abort, commit, abort, commit) of a franz-go
// producer with transactional id id over topic's partitions and checks that, once it opted in to
// transaction version 2, it sent no AddPartitionsToTxn, that each EndTxn bumped the epoch, and
// that read_committed sees exactly the committed records.
func runTV2Producer(ctx context.Context, t *testing.T, c *minikraft.Cluster, topic, id string) {
	var counts requestCounter
	p, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID(id),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.WithHooks(&counts))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// franz-go opts in to version 2 at BeginTransaction once it knows the broker's features;
	// its first transaction here starts before it does, and it opts in at its EndTxn.
	outcomes := []bool{true, false, true, false, true}
	var first int64 // AddPartitionsToTxn of the first transaction
	var want []string
	for round, commit := range outcomes {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			v := fmt.Sprintf("t%d-%d", round, i)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("round %d: produce: %v", round, err)
			}
			if commit {
				want = append(want, v)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("round %d: EndTransaction(%v): %v", round, commit, err)
		}
		if round == 0 {
			first = counts.count(24)
		}
	}
	if n := counts.count(24) - first; n != 0 {
		t.Errorf("franz-go sent %d AddPartitionsToTxn to a transaction.version 2 node after opting in", n)
	}
	if n := counts.count(26); n != int64(len(outcomes)) {
		t.Errorf("EndTxn requests: %d, want %d", n, len(outcomes))
	}
	// One epoch bump per EndTxn (the id started at epoch 0), asked of the coordinator. The
	// CompleteCommit record is written after EndTxn's answer: on three nodes the describe may
	// come first.
	cl := rawClient(t, c, int(findTxnCoordinator(ctx, t, rawClient(t, c, 0), id)))
	d := describeTxn(ctx, t, cl, id)
	for deadline := time.Now().Add(10 * time.Second); d.State == "PrepareCommit" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		d = describeTxn(ctx, t, cl, id)
	}
	if d.ErrorCode != 0 || d.ProducerEpoch != int16(len(outcomes)) || d.State != "CompleteCommit" {
		t.Errorf("DescribeTransactions: %+v; want epoch %d, CompleteCommit", d, len(outcomes))
	}
	checkValues(t, readCommitted(ctx, t, c, topic, len(want)), want)
}

// TestTransactionVersion2ThreeNodes: on three nodes most partition leaders are not the
// transaction coordinator, so Produce v12 adds their partitions with AddPartitionsToTxn v5
// (without VerifyOnly) over the inter-broker listener.
func TestTransactionVersion2ThreeNodes(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.Quiet(), minikraft.WithConfig("transaction.state.log.num.partitions", "3"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "tv2-3"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "tv2-3"); err != nil {
		t.Fatal(err)
	}
	runTV2Producer(ctx, t, c, "tv2-3", "tv2-three")
}
