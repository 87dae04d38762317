package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft/internal/txncheck"
)

// TestTransactionCheckerProcesses is issue 14's checker against three minikraft processes: four
// transactional franz-go producers write to four partitions of an RF 3, min ISR 2 topic for
// 25 s, committing and aborting at random, while a nemesis SIGKILLs (and restarts), SIGTERMs
// (and restarts) and SIGSTOPs (and SIGCONTs) one random process at a time. Then read_committed
// must hold every committed transaction whole, once, in order, and nothing of an aborted one;
// read_uncommitted every acknowledged record at its offset; the sampled last stable offsets
// never passed an open transaction. See internal/txncheck.
func TestTransactionCheckerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("a 25 s fault run")
	}
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+txnCheckDuration(t))
	defer cancel()
	const topic, partitions = "txncheck", 4
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...)))
	if r, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	for p := range int32(partitions) {
		partitionLeader(t, c, topic, p)
	}
	// A failure keeps its evidence: the end of each node's log (its restarts and how each run
	// ended are marked in it). Registered after startCluster's stops, so it runs before them.
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range c.nodes {
				t.Logf("node %d ended %d times: %v; its last log lines:\n%s", i, len(nd.exitStates()), nd.exitStates(), nd.tail(150, 48<<10))
			}
		}
	})

	chk := txncheck.New(txncheck.Config{
		Seeds: c.addrs(), Topic: topic, Partitions: partitions, Producers: 4,
		Duration: txnCheckDuration(t), Logf: t.Logf,
	})
	// The nemesis runs outside the test goroutine, so its restarts report errors rather than
	// failing the test (node.start would call t.Fatal).
	restart := func(n int) func() error {
		return func() error {
			nd := c.nodes[n]
			if !nd.running() {
				nd.startNoWait()
			}
			if !eventuallyOK(30*time.Second, func() bool { return brokersUp(nd.addr) }) {
				return fmt.Errorf("not serving 30 s after restart (running: %v, runs ended: %v); its last log lines:\n%s",
					nd.running(), nd.exitStates(), nd.tail(30, 8<<10))
			}
			return nil
		}
	}
	signal := func(n int, sig syscall.Signal) error { return c.nodes[n].cmd.Process.Signal(sig) }
	faults := []txncheck.Fault{
		{Name: "sigkill", Inject: func(n int) (func() error, error) { c.nodes[n].kill(); return restart(n), nil }},
		{Name: "sigterm", Inject: func(n int) (func() error, error) {
			if err := signal(n, syscall.SIGTERM); err != nil {
				return nil, err
			}
			select {
			case <-c.nodes[n].exited:
			case <-time.After(15 * time.Second):
				c.nodes[n].kill()
			}
			return restart(n), nil
		}},
		{Name: "sigstop", Inject: func(n int) (func() error, error) {
			return func() error { return signal(n, syscall.SIGCONT) }, signal(n, syscall.SIGSTOP)
		}},
	}
	nctx, stopNemesis := context.WithCancel(ctx)
	injected := make(chan map[string]int)
	go func() { injected <- txncheck.Nemesis(nctx, len(c.nodes), faults, t.Logf) }()
	chk.Load(ctx)
	stopNemesis()
	counts := <-injected
	checkExits(t, c)
	c.waitBrokers(t, len(c.nodes))

	n, errs := chk.Verify(ctx)
	t.Logf("faults injected: %v; %v", counts, n)
	for _, err := range errs {
		t.Error(err)
	}
	if n.Committed == 0 || n.Aborted == 0 {
		t.Errorf("the load committed %d and aborted %d transactions: the checker checked too little", n.Committed, n.Aborted)
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

// checkExits fails the test if a node is down once the nemesis is done, or if any run of a node
// ended other than by the nemesis's signals: SIGKILL ("signal: killed") or SIGTERM's clean exit
// ("exit status 0"). A run that ended by itself (a panic, a fatal error at startup after a
// crash) would otherwise go unseen until the next fault restarted the node.
func checkExits(t *testing.T, c *procCluster) {
	t.Helper()
	for i, nd := range c.nodes {
		if !nd.running() {
			t.Errorf("node %d is not running after the nemesis stopped", i)
		}
		for j, st := range nd.exitStates() {
			if st != "signal: killed" && st != "exit status 0" {
				t.Errorf("node %d's run %d ended by itself: %s", i, j+1, st)
			}
		}
	}
}
