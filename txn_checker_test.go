package minikraft_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/internal/txncheck"
)

// TestTransactionChecker is issue 14's checker on the in-process fixture: four transactional
// producers write to four partitions of an RF 3, min ISR 2 topic for 25 s, committing and
// aborting at random, while a nemesis kills (and restarts), cleanly stops (and restarts) and
// isolates (and heals) one random node at a time. Then read_committed must hold every committed
// transaction whole, once, in order, and nothing of an aborted one; read_uncommitted every
// acknowledged record at its offset; the sampled last stable offsets never passed an open
// transaction; and the history checker finds no broken promise. See internal/txncheck.
func TestTransactionChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("a 25 s fault run")
	}
	c := minikraft.NewCluster(t, 3, minikraft.WithHistory())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+txnCheckDuration(t))
	defer cancel()
	const topic, partitions = "txncheck", 4
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if r, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	if err := c.WaitForLeaders(ctx, topic); err != nil {
		t.Fatal(err)
	}

	chk := txncheck.New(txncheck.Config{
		Seeds: c.Addrs(), Topic: topic, Partitions: partitions, Producers: 4,
		Duration: txnCheckDuration(t), Logf: t.Logf,
	})
	restart := func(n int) func() error { return func() error { return c.RestartNode(n) } }
	faults := []txncheck.Fault{
		{Name: "kill", Inject: func(n int) (func() error, error) { return restart(n), c.KillNode(n) }},
		{Name: "stop", Inject: func(n int) (func() error, error) { return restart(n), c.StopNode(n) }},
		{Name: "isolate", Inject: func(n int) (func() error, error) {
			c.Isolate(n)
			return func() error { c.Heal(n); return nil }, nil
		}},
		// n answers every Fetch (its followers' too) 1.5 s late, then crashes: acks=all writes,
		// __transaction_state's Prepare records among them, are caught half replicated, so
		// commits end with unknown outcomes that a new coordinator must settle.
		{Name: "slow-kill", Inject: func(n int) (func() error, error) {
			c.InjectDelay(n, 1, 1500*time.Millisecond, 0)
			time.Sleep(time.Second)
			err := c.KillNode(n)
			c.ClearInjections()
			return restart(n), err
		}},
		// What n sends the others is lost, what they send reaches it: a leader whose
		// followers' fetches arrive but whose answers do not, or a follower that cannot fetch.
		{Name: "one-way", Inject: func(n int) (func() error, error) {
			var others []int
			for i := range 3 {
				if i != n {
					others = append(others, i)
				}
			}
			c.PartitionOneWay([]int{n}, others)
			return func() error { c.Heal(n); return nil }, nil
		}},
	}
	nctx, stopNemesis := context.WithCancel(ctx)
	injected := make(chan map[string]int)
	go func() { injected <- txncheck.Nemesis(nctx, 3, faults, t.Logf) }()
	chk.Load(ctx)
	stopNemesis()
	counts := <-injected
	c.HealAll()

	n, errs := chk.Verify(ctx)
	t.Logf("faults injected: %v; %v", counts, n)
	for _, err := range errs {
		t.Error(err)
	}
	if n.Committed == 0 || n.Aborted == 0 {
		t.Errorf("the load committed %d and aborted %d transactions: the checker checked too little", n.Committed, n.Aborted)
	}
	t.Logf("history: %+v", c.History().Stats())
	for _, a := range c.History().Check() {
		t.Error(a)
	}
}

// txnCheckDuration is how long the checker's load runs: 25 s, or MINIKRAFT_TXNCHECK_SECONDS for
// a longer soak.
func txnCheckDuration(t *testing.T) time.Duration {
	if s := os.Getenv("MINIKRAFT_TXNCHECK_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("MINIKRAFT_TXNCHECK_SECONDS=%q: want a positive number of seconds", s)
		}
		return time.Duration(n) * time.Second
	}
	return 25 * time.Second
}
