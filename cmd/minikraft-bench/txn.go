package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The -transactions mode: the transaction rate and commit latency of one transactional producer
// (issue 14's goal). Each transaction is 10 records of txnRecordSize bytes over the topic's 3
// partitions (round robin), produced and acknowledged (ProduceSync, acks=all), then committed
// (EndTransaction: EndTxn to the coordinator, which writes PrepareCommit, the COMMIT markers and
// CompleteCommit). One franz-go client with a transactional id runs transactions back to back for
// -duration; commit latency is EndTransaction's, transaction latency is Begin to the end of the
// commit. A transaction's first AddPartitionsToTxn that arrives while the coordinator is still
// writing the previous one's markers is answered CONCURRENT_TRANSACTIONS by Kafka (minikraft
// queues it), and the client retries after -txn-backoff (franz-go's ConcurrentTransactionsBackoff,
// 20 ms by default, as the Java producer's); a smaller one shows what that window costs. Every
// target starts fresh each repeat, in alternating order, as in the main benchmark; the first
// transaction (coordinator lookup, InitProducerId, __transaction_state creation) is a warm-up and
// is not counted. -profile runs the same load against an in-process node (txnprofile.go).

const (
	txnRecords    = 10
	txnPartitions = 3
	txnRecordSize = 100
)

// txnPhase is one target's figures in one repeat.
type txnPhase struct {
	txns                   int
	perSec                 float64
	commitP50, commitP99   time.Duration
	txnP50, txnP99         time.Duration
	commitMean, produceAvg time.Duration
	// serverCPU and serverSwitches are the server process's CPU time and context switches per
	// transaction over the timed run (its threads' /proc/<pid>/task/*/schedstat and status; 0
	// when unknown, as in process): on a shared machine steadier measures of the broker's own
	// cost than the rate. Each switch of a thread to sleep and back costs microseconds of kernel
	// time on a VM.
	serverCPU      time.Duration
	serverSwitches float64
}

// procSched is a process's CPU time and context switches, summed over its threads.
type procSched struct {
	cpu      time.Duration
	switches int64
}

// threadSched reads procSched of pid from /proc (Linux): each thread's time on the CPU
// (schedstat, in ns) and its voluntary and involuntary context switches (status).
func threadSched(pid int) (procSched, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return procSched{}, err
	}
	var ps procSched
	for _, t := range tasks {
		ss, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		if f := strings.Fields(string(ss)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			ps.cpu += time.Duration(ns)
		}
		st, err := os.ReadFile(filepath.Join(dir, t.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				ps.switches += n
			}
		}
	}
	return ps, nil
}

func runTransactions(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	self, err := os.Executable() // kfake runs as this binary's kfake-server
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "minikraft-bench-txn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := minikraftBinary(ctx, o, work)
	if err != nil {
		return err
	}
	all := []struct {
		flag string
		target
	}{
		{"minikraft", target{name: nameMinikraft, rf: 1, start: func(dir string) (*server, error) { return startMinikraft(bin, dir) }}},
		{"kfake", target{name: nameKfake, rf: 1, start: func(dir string) (*server, error) { return startKfake(self, dir) }}},
	}
	if haveCluster {
		all = append(all, struct {
			flag string
			target
		}{"cluster3", target{name: nameCluster3, rf: 3, start: func(dir string) (*server, error) { return startCluster3(self, dir) }}})
	}
	var targets []target
	for _, t := range all {
		if len(o.targets) == 0 || o.targets[t.flag] {
			targets = append(targets, t.target)
		}
	}
	phases := map[string][]txnPhase{}
	for rep := 0; rep < o.repeat; rep++ {
		for i := range targets {
			t := targets[(i+rep)%len(targets)]
			fmt.Fprintf(os.Stderr, "repeat %d/%d: %s transactions ...\n", rep+1, o.repeat, t.name)
			dir := filepath.Join(work, fmt.Sprintf("txn-%s-%d", strings.ReplaceAll(t.name, " ", "-"), rep))
			ph, err := txnTarget(ctx, t, dir, o.duration, o.txnBackoff)
			os.RemoveAll(dir)
			if err != nil && ctx.Err() == nil {
				// Once more on a fresh start: on a shared machine another process can take the
				// port freePort found between its check and the server's listen.
				fmt.Fprintf(os.Stderr, "  %v; starting %s again\n", err, t.name)
				ph, err = txnTarget(ctx, t, dir, o.duration, o.txnBackoff)
				os.RemoveAll(dir)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			fmt.Fprintf(os.Stderr, "  %.0f txn/s, commit p50 %v p99 %v, server CPU %v and %.1f context switches a transaction\n", ph.perSec, ph.commitP50, ph.commitP99, ph.serverCPU, ph.serverSwitches)
			phases[t.name] = append(phases[t.name], ph)
		}
	}
	md := txnMarkdown(o, targets, phases)
	fmt.Print(md)
	return os.WriteFile(filepath.Join(o.out, "transactions.md"), []byte(md), 0o644)
}

// txnTarget starts the target, creates the topic and runs transactions for d.
func txnTarget(ctx context.Context, t target, dir string, d, backoff time.Duration) (txnPhase, error) {
	s, err := t.start(dir)
	if err != nil {
		return txnPhase{}, err
	}
	defer s.stop()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = s.waitListening(wctx)
	cancel()
	if err != nil {
		return txnPhase{}, err
	}
	return txnRun(ctx, s.addrs, t.rf, d, backoff, func() (procSched, error) { return threadSched(s.cmd.Process.Pid) })
}

// txnRun creates the topic on the cluster at addrs and runs transactions for d, with the given
// client hooks (the profile's request timer). sched, if not nil, is the server's CPU time and
// context switches so far.
func txnRun(ctx context.Context, addrs []string, rf int16, d, backoff time.Duration, sched func() (procSched, error), hooks ...kgo.Hook) (txnPhase, error) {
	const topic = "txn-bench"
	if err := createTopics(ctx, addrs, txnPartitions, rf, []string{topic}); err != nil {
		return txnPhase{}, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.TransactionalID("bench-txn"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ConcurrentTransactionsBackoff(backoff), kgo.WithHooks(hooks...))
	if err != nil {
		return txnPhase{}, err
	}
	defer cl.Close()
	value := make([]byte, txnRecordSize)
	one := func() (commit, total, produce time.Duration, err error) {
		start := time.Now()
		if err := cl.BeginTransaction(); err != nil {
			return 0, 0, 0, err
		}
		rs := make([]*kgo.Record, txnRecords)
		for i := range rs {
			rs[i] = &kgo.Record{Partition: int32(i % txnPartitions), Value: value}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return 0, 0, 0, err
		}
		produced := time.Now()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, 0, 0, err
		}
		end := time.Now()
		return end.Sub(produced), end.Sub(start), produced.Sub(start), nil
	}
	// Warm-up: the coordinator lookup, InitProducerId and the first AddPartitionsToTxn.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, _, _, err := one()
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			return txnPhase{}, fmt.Errorf("the first transaction: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var commits, totals []time.Duration
	var produceSum, commitSum time.Duration
	var sched0 procSched
	if sched != nil {
		if sched0, err = sched(); err != nil {
			return txnPhase{}, err
		}
	}
	start := time.Now()
	for time.Since(start) < d {
		c, tot, p, err := one()
		if err != nil {
			return txnPhase{}, err
		}
		commits, totals = append(commits, c), append(totals, tot)
		commitSum += c
		produceSum += p
	}
	secs := time.Since(start).Seconds()
	n := len(commits)
	var serverCPU time.Duration
	var switches float64
	if sched != nil {
		sched1, err := sched()
		if err != nil {
			return txnPhase{}, err
		}
		serverCPU = (sched1.cpu - sched0.cpu) / time.Duration(max(n, 1))
		switches = float64(sched1.switches-sched0.switches) / float64(max(n, 1))
	}
	slices.Sort(commits)
	slices.Sort(totals)
	return txnPhase{
		txns: n, perSec: float64(n) / secs,
		commitP50: percentile(commits, 0.5), commitP99: percentile(commits, 0.99),
		txnP50: percentile(totals, 0.5), txnP99: percentile(totals, 0.99),
		commitMean: commitSum / time.Duration(n), produceAvg: produceSum / time.Duration(n),
		serverCPU: serverCPU, serverSwitches: switches,
	}, nil
}

func txnMarkdown(o options, targets []target, phases map[string][]txnPhase) string {
	var b strings.Builder
	b.WriteString("## Transactions: one transactional producer\n\n")
	fmt.Fprintf(&b, "franz-go transactional producer, transactions back to back for %v per target and repeat (%d repeats, medians): "+
		"each transaction is %d records of %d B over %d partitions (acks=all), then a commit. "+
		"Commit = EndTransaction (EndTxn: minikraft answers once the markers are written, Kafka once PrepareCommit is durable); transaction = begin to the end of the commit; "+
		"produce = begin to the acknowledgement of the 10 records, including AddPartitionsToTxn and its retries after CONCURRENT_TRANSACTIONS (client backoff %v).\n\n",
		o.duration, o.repeat, txnRecords, txnRecordSize, txnPartitions, o.txnBackoff)
	b.WriteString("Server CPU and switches = the server process's CPU time and its threads' context switches per transaction (/proc/<pid>/task/*/schedstat and status).\n\n")
	b.WriteString("| target | transactions | txn/s | commit p50 | commit p99 | txn p50 | txn p99 | produce (mean) | server CPU | switches |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	for _, t := range targets {
		ps := phases[t.name]
		if len(ps) == 0 {
			continue
		}
		med := func(get func(txnPhase) float64) float64 {
			vs := make([]float64, len(ps))
			for i, p := range ps {
				vs[i] = get(p)
			}
			slices.Sort(vs)
			return vs[len(vs)/2]
		}
		dur := func(get func(txnPhase) time.Duration) string {
			return ms(time.Duration(med(func(p txnPhase) float64 { return float64(get(p)) })))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %s | %s | %s | %s | %.0f µs | %.1f |\n", t.name,
			med(func(p txnPhase) float64 { return float64(p.txns) }), med(func(p txnPhase) float64 { return p.perSec }),
			dur(func(p txnPhase) time.Duration { return p.commitP50 }), dur(func(p txnPhase) time.Duration { return p.commitP99 }),
			dur(func(p txnPhase) time.Duration { return p.txnP50 }), dur(func(p txnPhase) time.Duration { return p.txnP99 }),
			dur(func(p txnPhase) time.Duration { return p.produceAvg }),
			med(func(p txnPhase) float64 { return float64(p.serverCPU) / 1e3 }),
			med(func(p txnPhase) float64 { return p.serverSwitches }))
	}
	b.WriteString("\n")
	return b.String()
}
