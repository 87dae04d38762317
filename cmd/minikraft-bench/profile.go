package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/broker/config"
)

// The -profile mode runs minikraft in this process, under pprof, with the same client load as
// the benchmark. The broker's goroutines carry the pprof label side=broker (labels are inherited
// by the goroutines a goroutine starts), so the CPU profiles can be cut to the broker's share with
// -tagfocus even though the client shares the process.

const moduleFuncPrefix = "github.com/minikraft/minikraft/"

func runProfile(ctx context.Context, o options) error {
	out := filepath.Join(o.out, "profile")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "minikraft-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// -targets cluster3 profiles the three-node cluster with RF 3 topics instead of one node.
	var addrs []string
	var rf int16 = 1
	if o.targets["cluster3"] {
		if !haveCluster {
			return errNoCluster
		}
		var stop func()
		pprof.Do(ctx, pprof.Labels("side", "broker"), func(context.Context) { addrs, stop, err = startCluster3InProcess(dir) })
		if err != nil {
			return err
		}
		defer stop()
		rf = 3
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

	size := o.sizes[0]
	if slices.Contains(o.sizes, 1000) {
		size = 1000
	}
	const topic = "bench-profile"
	if err := createTopics(ctx, addrs, o.partitions, rf, []string{topic}); err != nil {
		return err
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))

	var cnt requestCounter
	fmt.Fprintf(os.Stderr, "profiling produce of %s records for %v ...\n", sizeLabel(size), o.duration)
	var n int64
	if err := cpuProfile(filepath.Join(out, "produce.cpu.pprof"), func() error {
		var r rate
		r, n, err = producePhase(ctx, addrs, topic, size, o.duration, &cnt)
		fmt.Fprintf(os.Stderr, "  %.1f MB/s\n", r.mbps)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "profiling consume from the start ...")
	if err := cpuProfile(filepath.Join(out, "consume.cpu.pprof"), func() error {
		r, err := consumePhase(ctx, addrs, topic, n, 2*o.duration, &cnt)
		fmt.Fprintf(os.Stderr, "  %.1f MB/s\n", r.mbps)
		return err
	}); err != nil {
		return err
	}
	for _, name := range []string{"mutex", "block"} {
		if err := writeLookup(name, filepath.Join(out, name+".pprof")); err != nil {
			return err
		}
	}
	runtime.SetMutexProfileFraction(0)
	runtime.SetBlockProfileRate(0)

	// Allocation accounting: every allocation sampled from here on, so the per-batch counts are
	// exact rather than estimated from 512 KiB samples. Only this pass pays for it.
	allocTopic := "bench-allocs"
	if err := createTopics(ctx, addrs, o.partitions, rf, []string{allocTopic}); err != nil {
		return err
	}
	runtime.MemProfileRate = 1
	fmt.Fprintln(os.Stderr, "counting allocations (every allocation sampled: slow) ...")
	var bc batchCounter
	cnt = requestCounter{}
	before := memSnapshot()
	_, n, err = producePhase(ctx, addrs, allocTopic, size, min(o.duration, 2*time.Second), &cnt, &bc)
	if err != nil {
		return err
	}
	mid := memSnapshot()
	produceReqs := cnt.produce.Load()
	produceBytes := cnt.produceBytes.Load()
	if _, err := consumePhase(ctx, addrs, allocTopic, n, 4*o.duration, &cnt, &bc); err != nil {
		return err
	}
	after := memSnapshot()
	if err := writeLookup("allocs", filepath.Join(out, "allocs.pprof")); err != nil {
		return err
	}
	runtime.MemProfileRate = 512 * 1024

	var rep strings.Builder
	fmt.Fprintf(&rep, "# minikraft profile: %s records, %d partitions, RF %d, acks=all, in-process (%d node(s))\n\n", sizeLabel(size), o.partitions, rf, rf)
	fmt.Fprintf(&rep, "## Broker allocations while producing (%d batches in %d produce requests of %.0f KB on average, %d records)\n\n",
		bc.produceBatches.Load(), produceReqs, float64(produceBytes)/float64(max(produceReqs, 1))/1e3, bc.produceRecords.Load())
	allocReport(&rep, diffSnapshots(before, mid), bc.produceBatches.Load(), "batch", 0)
	fetchReqs := cnt.fetch.Load()
	fmt.Fprintf(&rep, "\n## Broker allocations while consuming (%d fetch requests, %d batches, %.1f MB of batches)\n\n",
		fetchReqs, bc.fetchBatches.Load(), float64(bc.fetchBytes.Load())/1e6)
	allocReport(&rep, diffSnapshots(mid, after), fetchReqs, "fetch request", bc.fetchBytes.Load())

	pp := func(title string, args ...string) {
		fmt.Fprintf(&rep, "\n## %s\n\n    go tool pprof %s\n\n", title, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...)
		text, err := cmd.CombinedOutput()
		if err != nil {
			fmt.Fprintf(&rep, "    (failed: %v)\n", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
			fmt.Fprintf(&rep, "    %s\n", line)
		}
	}
	for _, phase := range [][2]string{{"produce", "producing"}, {"consume", "consuming"}} {
		file := filepath.Join(out, phase[0]+".cpu.pprof")
		pp("CPU while "+phase[1]+", broker goroutines only: hottest functions", "-top", "-nodecount=15", "-tagfocus=side=broker", file)
		pp("CPU while "+phase[1]+", broker goroutines only: cumulative", "-top", "-cum", "-nodecount=40", "-tagfocus=side=broker", file)
	}
	// The mutex profile is the contention; block.pprof, written beside it, is mostly the idle
	// waits of background loops and long polls, so it is left for a closer look.
	pp("Mutex contention in minikraft code (both phases)", "-top", "-cum", "-nodecount=20", "-focus="+moduleFuncPrefix, filepath.Join(out, "mutex.pprof"))

	path := filepath.Join(out, "profile.md")
	if err := os.WriteFile(path, []byte(rep.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(rep.String())
	fmt.Fprintf(os.Stderr, "wrote %s and the profiles beside it\n", path)
	return nil
}

// startInProcess starts a one-node broker on loopback ports chosen by the kernel, binding the
// listeners first so the voters string can name the controller's real port.
func startInProcess(dir string) (*broker.Broker, error) {
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pl.Close()
		return nil, err
	}
	props := map[string]string{
		"node.id":                   "0",
		"process.roles":             "broker,controller",
		"listeners":                 fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", pl.Addr(), cl.Addr()),
		"controller.listener.names": "CONTROLLER",
		"controller.quorum.voters":  "0@" + cl.Addr().String(),
		"log.dirs":                  filepath.Join(dir, "data"),
	}
	bc, _, err := config.FromProperties(props)
	if err == nil {
		var b *broker.Broker
		if b, err = broker.New(broker.Config{Broker: bc, Listeners: map[string]net.Listener{"PLAINTEXT": pl, "CONTROLLER": cl}}); err == nil {
			return b, nil
		}
	}
	pl.Close()
	cl.Close()
	return nil, err
}

func cpuProfile(path string, run func() error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = run()
	pprof.StopCPUProfile()
	return err
}

func writeLookup(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// batchCounter counts what the client wrote and read, batch by batch.
type batchCounter struct {
	produceBatches, produceRecords atomic.Int64
	fetchBatches, fetchBytes       atomic.Int64
}

func (c *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.produceBatches.Add(1)
	c.produceRecords.Add(int64(m.NumRecords))
}

func (c *batchCounter) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	c.fetchBatches.Add(1)
	c.fetchBytes.Add(int64(m.CompressedBytes))
}

// allocSite is where minikraft code allocated: the innermost frame in the module, and the leaf
// function when the allocation happened in a callee outside it (kmsg, the runtime).
type allocSite struct{ site, leaf string }

type allocCount struct{ objects, bytes int64 }

// memSnapshot reads the allocation profile, keyed by the sampled stack, after two GCs: the
// runtime publishes a cycle's allocations only once a later cycle has completed.
func memSnapshot() map[[32]uintptr]allocCount {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for {
		n, _ := runtime.MemProfile(nil, true)
		recs = make([]runtime.MemProfileRecord, n+64) // room for buckets added meanwhile
		if n, ok := runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	// The runtime keeps one bucket per stack and allocation size, so one stack can have many
	// records: add them up.
	m := make(map[[32]uintptr]allocCount, len(recs))
	for _, r := range recs {
		c := m[r.Stack0]
		m[r.Stack0] = allocCount{c.objects + r.AllocObjects, c.bytes + r.AllocBytes}
	}
	return m
}

// diffSnapshots attributes what was allocated between two snapshots to minikraft sites; stacks
// without a minikraft frame (the client, the runtime) are left out.
func diffSnapshots(before, after map[[32]uintptr]allocCount) map[allocSite]allocCount {
	out := map[allocSite]allocCount{}
	for stk, a := range after {
		b := before[stk]
		d := allocCount{a.objects - b.objects, a.bytes - b.bytes}
		if d.objects <= 0 {
			continue
		}
		site, ok := siteOf(stk)
		if !ok {
			continue
		}
		c := out[site]
		out[site] = allocCount{c.objects + d.objects, c.bytes + d.bytes}
	}
	return out
}

func siteOf(stk [32]uintptr) (allocSite, bool) {
	n := slices.Index(stk[:], 0)
	if n < 0 {
		n = len(stk)
	}
	frames := runtime.CallersFrames(stk[:n])
	var leaf string
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, moduleFuncPrefix) {
			s := allocSite{site: fmt.Sprintf("%s (%s:%d)", strings.TrimPrefix(f.Function, moduleFuncPrefix), shortPath(f.File), f.Line)}
			if leaf != "" && !strings.HasPrefix(leaf, "runtime.") {
				s.leaf = leaf
			}
			return s, true
		}
		if leaf == "" || strings.HasPrefix(leaf, "runtime.") {
			leaf = f.Function
		}
		if !more {
			return allocSite{}, false
		}
	}
}

func shortPath(file string) string {
	if i := strings.Index(file, "/minikraft/"); i >= 0 {
		return file[i+len("/minikraft/"):]
	}
	return filepath.Base(file)
}

func allocReport(w *strings.Builder, sites map[allocSite]allocCount, per int64, unit string, payloadBytes int64) {
	var total allocCount
	type row struct {
		s allocSite
		c allocCount
	}
	var rows []row
	for s, c := range sites {
		total.objects += c.objects
		total.bytes += c.bytes
		rows = append(rows, row{s, c})
	}
	per = max(per, 1)
	fmt.Fprintf(w, "Total: %.1f objects and %.0f bytes per %s", float64(total.objects)/float64(per), float64(total.bytes)/float64(per), unit)
	if payloadBytes > 0 {
		fmt.Fprintf(w, "; %.2f bytes allocated per byte of record batches served", float64(total.bytes)/float64(payloadBytes))
	}
	fmt.Fprintf(w, ".\n\n| objects/%s | bytes/%s | where (leaf callee) |\n|--:|--:|---|\n", unit, unit)
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.c.bytes, a.c.bytes) })
	for i, r := range rows {
		if i == 25 {
			break
		}
		where := r.s.site
		if r.s.leaf != "" {
			where += " → " + r.s.leaf
		}
		fmt.Fprintf(w, "| %.2f | %.0f | %s |\n", float64(r.c.objects)/float64(per), float64(r.c.bytes)/float64(per), where)
	}
}
