package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker"
)

// The -profile -transactions mode: the transactions workload against an in-process minikraft,
// with a CPU profile, block and mutex profiles, an execution trace (go tool trace) and the
// client's latency per request kind, so that the time a transaction spends waiting (on round
// trips, appends, timers) can be told from the time it computes. The CPU profile alone shows the
// broker mostly idle: what a transaction waits on is in the trace and the block profile.

func runTxnProfile(ctx context.Context, o options) error {
	out := filepath.Join(o.out, "profile")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "minikraft-txnprofile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// One node, or with -targets cluster3 the three-node cluster (RF 3), or with -targets kfake
	// kfake, for its round trips.
	var addrs []string
	rf := int16(1)
	if o.targets["kfake"] {
		// kfake in a child process: only the client's round trips mean something then.
		self, err := os.Executable()
		if err != nil {
			return err
		}
		s, err := startKfake(self, dir)
		if err != nil {
			return err
		}
		defer s.stop()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.waitListening(wctx)
		cancel()
		if err != nil {
			return err
		}
		addrs = s.addrs
	} else if o.targets["cluster3"] {
		var c *minikraft.Cluster
		pprof.Do(ctx, pprof.Labels("side", "broker"), func(context.Context) {
			c, err = minikraft.StartCluster(3, minikraft.WithDir(dir), minikraft.Quiet())
		})
		if err != nil {
			return err
		}
		defer c.Close()
		addrs, rf = c.Addrs(), 3
	} else {
		var b *broker.Broker
		pprof.Do(ctx, pprof.Labels("side", "broker"), func(context.Context) { b, err = startInProcess(dir) })
		if err != nil {
			return err
		}
		defer b.Close()
		addr, _ := b.ListenerAddr("PLAINTEXT")
		addrs = []string{addr.String()}
	}

	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	defer runtime.SetMutexProfileFraction(0)
	defer runtime.SetBlockProfileRate(0)
	tf, err := os.Create(filepath.Join(out, "txn.trace"))
	if err != nil {
		return err
	}
	defer tf.Close()
	var rt requestTimer
	fmt.Fprintf(os.Stderr, "profiling transactions for %v ...\n", o.duration)
	var ph txnPhase
	err = cpuProfile(filepath.Join(out, "txn.cpu.pprof"), func() error {
		// The trace covers the first second only: it grows by megabytes a second.
		if err := trace.Start(tf); err != nil {
			return err
		}
		stopTrace := time.AfterFunc(time.Second+2*time.Second, trace.Stop) // the warm-up, then a second
		defer func() {
			if stopTrace.Stop() {
				trace.Stop()
			}
		}()
		var err error
		ph, err = txnRun(ctx, addrs, rf, o.duration, o.txnBackoff, nil, &rt)
		return err
	})
	if err != nil {
		return err
	}
	for _, name := range []string{"mutex", "block"} {
		if err := writeLookup(name, filepath.Join(out, "txn."+name+".pprof")); err != nil {
			return err
		}
	}
	var rep strings.Builder
	fmt.Fprintf(&rep, "# minikraft transactions profile (in-process, %d node(s))\n\n", rf)
	fmt.Fprintf(&rep, "%d transactions, %.0f txn/s, commit p50 %v p99 %v, transaction p50 %v p99 %v\n\n",
		ph.txns, ph.perSec, ph.commitP50, ph.commitP99, ph.txnP50, ph.txnP99)
	rep.WriteString("Client round trips (write to the end of the read, franz-go's BrokerE2E):\n\n")
	rep.WriteString("| request | count | per txn | p50 | p90 | p99 | mean |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rt.summary() {
		fmt.Fprintf(&rep, "| %s | %d | %.2f | %v | %v | %v | %v |\n", r.name, r.n, float64(r.n)/float64(max(ph.txns, 1)),
			r.p50, r.p90, r.p99, r.mean)
	}
	fmt.Fprintf(&rep, "\nFiles in %s: txn.cpu.pprof, txn.block.pprof, txn.mutex.pprof (go tool pprof -tagfocus side=broker), txn.trace (go tool trace).\n", out)
	fmt.Print(rep.String())
	return os.WriteFile(filepath.Join(out, "txn.md"), []byte(rep.String()), 0o644)
}

// requestTimer is a kgo hook that keeps each request's round trip, by request key.
type requestTimer struct {
	mu  sync.Mutex
	byK map[int16][]time.Duration
}

func (t *requestTimer) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if e.Err() != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byK == nil {
		t.byK = map[int16][]time.Duration{}
	}
	t.byK[key] = append(t.byK[key], e.DurationE2E())
}

type requestSummary struct {
	name                string
	n                   int
	p50, p90, p99, mean time.Duration
}

func (t *requestTimer) summary() []requestSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []requestSummary
	for k, ds := range t.byK {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		out = append(out, requestSummary{name: kmsg.NameForKey(k), n: len(ds), p50: percentile(ds, 0.5),
			p90: percentile(ds, 0.9), p99: percentile(ds, 0.99), mean: sum / time.Duration(len(ds))})
	}
	slices.SortFunc(out, func(a, b requestSummary) int { return b.n - a.n })
	return out
}
