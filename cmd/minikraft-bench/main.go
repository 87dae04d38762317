// Command minikraft-bench measures minikraft against franz-go's kfake and against the machine's
// limits, in one run, and writes the results as a Markdown table and a PNG plot.
//
//	go run ./cmd/minikraft-bench                 # 3 alternating repeats, 5 s per phase
//	go run ./cmd/minikraft-bench -quick          # a few seconds, for CI
//	go run ./cmd/minikraft-bench -profile        # pprof of an in-process minikraft under load
//	go run ./cmd/minikraft-bench -profile -targets cluster3  # ... of an in-process three-node cluster, RF 3
//	go run ./cmd/minikraft-bench -soak 10m       # RSS over a steady produce+consume load
//	go run ./cmd/minikraft-bench -scale 100,1000,10000  # partition scale of one node (scale.go)
//	go run ./cmd/minikraft-bench -fetch-sessions 1000  # fetch cost of a 1,000-partition consumer, with and without sessions
//	go run ./cmd/minikraft-bench -compression snappy,lz4,zstd,gzip  # compressed produce (compressed.go)
//	go run ./cmd/minikraft-bench -transactions  # transactions per second and commit latency (txn.go)
//	go run ./cmd/minikraft-bench -transactions -profile  # where a transaction waits: pprof, trace, round trips (txnprofile.go)
//	go run ./cmd/minikraft-bench -security      # SASL_SSL (SCRAM-SHA-512) against PLAINTEXT on one node (security.go)
//
// Both servers run as separate processes so that their RSS is their own: minikraft from a binary
// that the command builds with `go build` into a temporary directory, kfake as this binary
// re-executed with the kfake-server subcommand, with kfake's DataDir so that both persist (and
// neither fsyncs each write: Kafka's default, and kfake's without SyncWrites). Both are driven by
// the same franz-go client with the same settings, over loopback only. Each repeat starts fresh
// processes with empty data directories and alternates which server goes first, so drift on the
// machine (page cache, thermal, other tenants) spreads over both; medians are reported.
//
// Per run and server: startup time (process start to the first acknowledged write, a topic
// auto-created on the way), idle RSS a moment after that, the many-clients phase on one node
// (clients.go: RSS per idle connection and per consumer group, produce latency with them present),
// produce throughput per record size (acks=all, idempotent, 6 partitions, incompressible values)
// and the server's CPU seconds per GB acknowledged (/proc/<pid>/stat), consume throughput of the
// same records from the start, produce latency at a fixed rate, read+write syscalls of the server
// per produce and per fetch request (/proc/<pid>/io), and peak RSS (VmHWM) at the end.
//
// The three-node RF 3 column runs the root package's StartCluster in a child process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errNoCluster is the answer for the three-node figures in a build without cluster3.go.
var errNoCluster = errors.New("three-node cluster: build with -tags minikraft_cluster (needs minikraft.StartCluster)")

// options are the command-line settings of a benchmark run.
type options struct {
	duration    time.Duration // per produce/latency phase
	repeat      int
	sizes       []int
	out         string
	partitions  int32
	rate        int // records/s of the latency phase
	latencySize int
	diskMB      int
	minikraft   string // prebuilt binary; empty builds one
	profile     bool
	soak        time.Duration // > 0: the steady-state RSS run instead of the benchmark
	fetchParts  int           // > 0: the fetch-session run (fetchsessions.go) over this many partitions
	quick       bool
	targets     map[string]bool // empty: all
	compression []string        // non-empty: the compressed-produce run instead of the benchmark
	txn         bool            // the transactions run (txn.go) instead of the benchmark
	txnBackoff  time.Duration   // the transactional client's CONCURRENT_TRANSACTIONS backoff
	idleConns   int             // the many-clients phase (clients.go): idle connections ...
	groups      int             // ... and consumer groups on one node
	security    bool            // the SASL_SSL against PLAINTEXT run (security.go) instead of the benchmark
	ideal       bool            // consume against a server that answers from memory (ideal.go) instead
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "kfake-server":
			os.Exit(kfakeServer(os.Args[2:]))
		case "cluster3-server":
			os.Exit(clusterServer(os.Args[2:]))
		case "ideal-server":
			os.Exit(idealServer(os.Args[2:]))
		}
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "minikraft-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.security {
		err = runSecurity(ctx, o)
	} else if o.ideal {
		err = runIdeal(ctx, o)
	} else if o.txn && o.profile {
		err = runTxnProfile(ctx, o)
	} else if o.txn {
		err = runTransactions(ctx, o)
	} else if o.fetchParts > 0 {
		err = runFetchSessions(ctx, o, o.fetchParts)
	} else if len(o.compression) > 0 {
		err = runCompressed(ctx, o)
	} else if o.soak > 0 {
		err = runSoak(ctx, o)
	} else if o.profile {
		err = runProfile(ctx, o)
	} else if len(scaleCounts) > 0 || scaleRender != "" {
		err = runScale(ctx, o)
	} else {
		err = runBench(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "minikraft-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	var sizes string
	fs := flag.NewFlagSet("minikraft-bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each produce and latency phase (consume is capped at twice this)")
	fs.IntVar(&o.repeat, "repeat", 3, "alternating A/B repeats; medians are reported")
	fs.StringVar(&sizes, "sizes", "100,1KB,10KB", "record value sizes, comma separated (B, KB=1000, KiB=1024 suffixes)")
	fs.StringVar(&o.out, "out", "bench-out", "directory for results.md, throughput.png and profiles")
	var parts int
	fs.IntVar(&parts, "partitions", 6, "partitions of every benchmark topic")
	fs.IntVar(&o.rate, "rate", 2000, "records/s of the fixed-rate latency phase")
	fs.IntVar(&o.latencySize, "latency-size", 1000, "record value size of the latency phase")
	fs.IntVar(&o.diskMB, "disk-mb", 512, "MB written (then fsynced) to measure the data disk")
	fs.StringVar(&o.minikraft, "minikraft", "", "use this minikraft binary instead of building one")
	fs.BoolVar(&o.profile, "profile", false, "profile an in-process minikraft under produce and consume load instead of benchmarking")
	var targets string
	fs.StringVar(&targets, "targets", "", "comma-separated subset of minikraft,kfake,cluster3 to run (default all)")
	fs.DurationVar(&o.soak, "soak", 0, "instead of benchmarking, run a steady 1 KB produce+consume load for this long and sample the server's RSS")
	fs.IntVar(&o.fetchParts, "fetch-sessions", 0, "instead of benchmarking, measure an idle consumer of this many partitions with full fetches and with fetch sessions")
	var compression string
	fs.StringVar(&compression, "compression", "", "instead of benchmarking, measure compressed produces with these codecs (e.g. snappy,lz4,zstd,gzip) against uncompressed ones")
	fs.BoolVar(&o.txn, "transactions", false, "instead of benchmarking, measure transactions per second and commit latency of one transactional producer")
	fs.DurationVar(&o.txnBackoff, "txn-backoff", 20*time.Millisecond, "with -transactions: the client's backoff after CONCURRENT_TRANSACTIONS (franz-go's default 20ms)")
	fs.IntVar(&o.idleConns, "idle-conns", 1000, "idle connections of the many-clients phase on one node (0 with -groups 0 skips the phase)")
	fs.IntVar(&o.groups, "groups", 100, "consumer groups (one member each, one committed offset) of the many-clients phase")
	fs.BoolVar(&o.security, "security", false, "instead of benchmarking, measure produce and consume over SASL_SSL (SCRAM-SHA-512) against PLAINTEXT on the same node")
	fs.BoolVar(&o.ideal, "ideal", false, "instead of benchmarking, measure consume from minikraft against a server that answers every fetch from memory (the client's ceiling)")
	fs.BoolVar(&o.quick, "quick", false, "a few seconds in all, for CI: short phases, one repeat, two sizes")
	scaleFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		// Explicit flags win over -quick, so CI can still pick sizes.
		if !set["duration"] {
			o.duration = 400 * time.Millisecond
		}
		if !set["repeat"] {
			o.repeat = 1
		}
		if !set["sizes"] {
			sizes = "100,1KB"
		}
		if !set["disk-mb"] {
			o.diskMB = 32
		}
		if !set["idle-conns"] {
			o.idleConns = 100
		}
		if !set["groups"] {
			o.groups = 10
		}
	}
	var err error
	if o.sizes, err = parseSizes(sizes); err != nil {
		return o, err
	}
	o.partitions = int32(parts)
	if compression != "" {
		if o.compression, err = parseCodecs(compression); err != nil {
			return o, err
		}
	}
	if targets != "" {
		o.targets = map[string]bool{}
		for _, t := range strings.Split(targets, ",") {
			switch t = strings.TrimSpace(t); t {
			case "minikraft", "kfake", "cluster3":
				o.targets[t] = true
			default:
				return o, fmt.Errorf("-targets: unknown target %q", t)
			}
		}
	}
	switch {
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return o, errors.New("-duration must be in (0, 10m]")
	case o.repeat < 1 || o.repeat > 50:
		return o, errors.New("-repeat must be 1..50")
	case o.txnBackoff <= 0 || o.txnBackoff > time.Minute:
		return o, errors.New("-txn-backoff must be in (0, 1m]")
	case o.fetchParts < 0 || o.fetchParts > 100_000:
		return o, errors.New("-fetch-sessions must be 0..100000")
	case parts < 1 || parts > 1000:
		return o, errors.New("-partitions must be 1..1000")
	case o.rate < 1 || o.rate > 1_000_000:
		return o, errors.New("-rate must be 1..1000000")
	case o.latencySize < 1 || o.latencySize > 1<<20:
		return o, errors.New("-latency-size must be 1..1048576")
	case o.diskMB < 1 || o.diskMB > 1<<16:
		return o, errors.New("-disk-mb must be 1..65536")
	case o.idleConns < 0 || o.idleConns > 10_000:
		return o, errors.New("-idle-conns must be 0..10000")
	case o.groups < 0 || o.groups > 1000:
		return o, errors.New("-groups must be 0..1000")
	}
	return o, nil
}

// parseSizes reads "100,1KB,10KB". Decimal KB because the issue speaks of 1 KB records, and a
// 1000-byte value is what Kafka's own producer-perf-test means by --record-size 1000.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		for _, suf := range []struct {
			s string
			m int
		}{{"KiB", 1024}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000_000}, {"B", 1}} {
			if strings.HasSuffix(strings.ToUpper(f), strings.ToUpper(suf.s)) {
				f, mult = f[:len(f)-len(suf.s)], suf.m
				break
			}
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n*mult > 1<<20 {
			return nil, fmt.Errorf("-sizes: bad size %q (want 1 B to 1 MiB)", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("-sizes: no sizes")
	}
	return out, nil
}

// runBench is the A/B benchmark: limits first, then alternating runs of every target.
func runBench(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, bin, self, err := benchWork(ctx, o, "minikraft-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintln(os.Stderr, "measuring the machine's limits ...")
	lim, err := measureLimits(ctx, work, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  loopback TCP, one connection: %.0f MB/s; sequential write+fsync to %s: %.0f MB/s\n",
		lim.loopbackMBps, work, lim.diskMBps)

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
	} else if o.targets["cluster3"] {
		return errNoCluster
	}
	var targets []target
	for _, t := range all {
		if len(o.targets) == 0 || o.targets[t.flag] {
			targets = append(targets, t.target)
		}
	}

	res := newResults(o, lim)
	for rep := 0; rep < o.repeat; rep++ {
		for i := range targets {
			// Rotate the order every repeat: A B, B A, A B ...
			t := targets[(i+rep)%len(targets)]
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "repeat %d/%d: %s ...\n", rep+1, o.repeat, t.name)
			dir := filepath.Join(work, fmt.Sprintf("%s-%d", strings.ReplaceAll(t.name, " ", "-"), rep))
			m, err := runTarget(ctx, t, dir, o)
			os.RemoveAll(dir)
			if err != nil {
				fmt.Fprintf(os.Stderr, "  %s failed: %v\n", t.name, err)
				res.fail(t.name, err)
				continue
			}
			m.repeat = rep + 1
			res.add(t.name, m)
			fmt.Fprintf(os.Stderr, "  %s\n", m.summary())
		}
	}

	res.lim.loadEnd = loadAvg()
	md := res.markdown(o, time.Now())
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	png := filepath.Join(o.out, "throughput.png")
	if err := writePlot(png, res); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", filepath.Join(o.out, "results.md"), png)
	return nil
}
