package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results collects every run of every target.
type results struct {
	o    options
	lim  limits
	runs map[string][]*measurement
	errs map[string][]error
}

func newResults(o options, lim limits) *results {
	return &results{o: o, lim: lim, runs: map[string][]*measurement{}, errs: map[string][]error{}}
}

func (r *results) add(name string, m *measurement) { r.runs[name] = append(r.runs[name], m) }
func (r *results) fail(name string, err error)     { r.errs[name] = append(r.errs[name], err) }

// median of one figure over a target's runs; ok is false when no run measured it.
func (r *results) median(name string, get func(*measurement) (float64, bool)) (float64, bool) {
	var v []float64
	for _, m := range r.runs[name] {
		if x, ok := get(m); ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	return middle(v), true
}

// medianOf is the median of get over runs (0 for none), for the modes that keep their own runs.
func medianOf[T any](runs []T, get func(T) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = get(r)
	}
	if len(v) == 0 {
		return 0
	}
	return middle(v)
}

// middle sorts v and returns its median: the middle value, or the mean of the two middle ones.
func middle(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// figure is one row of the table.
type figure struct {
	label string
	get   func(*measurement) (float64, bool)
	// share says what fraction of the machine's limits a value is; nil when no limit applies.
	share func(v float64, l limits) string
}

func (r *results) figures() []figure {
	var f []figure
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	produceShare := func(v float64, l limits) string {
		return fmt.Sprintf("%s of loopback, %s of disk", pct(v, l.loopbackMBps), pct(v, l.diskMBps))
	}
	consumeShare := func(v float64, l limits) string { return pct(v, l.loopbackMBps) + " of loopback" }
	for _, size := range r.o.sizes {
		f = append(f,
			figure{label: fmt.Sprintf("produce %s, MB/s", sizeLabel(size)),
				get:   func(m *measurement) (float64, bool) { x, ok := m.produce[size]; return x.mbps, ok },
				share: produceShare},
			figure{label: fmt.Sprintf("produce %s, records/s", sizeLabel(size)),
				get: func(m *measurement) (float64, bool) { x, ok := m.produce[size]; return x.recps, ok }},
		)
	}
	for _, size := range r.o.sizes {
		f = append(f, figure{label: fmt.Sprintf("server CPU s per GB acknowledged, produce %s ↓", sizeLabel(size)),
			get: func(m *measurement) (float64, bool) { x, ok := m.cpuPerGB[size]; return x, ok }})
	}
	cpus := func(v float64, _ limits) string {
		return pct(v, float64(runtime.NumCPU())) + fmt.Sprintf(" of %d CPUs", runtime.NumCPU())
	}
	phase := func(size int, get func(phaseCPU) (float64, bool)) func(*measurement) (float64, bool) {
		return func(m *measurement) (float64, bool) {
			pc, ok := m.phases[size]
			if !ok {
				return 0, false
			}
			return get(pc)
		}
	}
	for _, size := range r.o.sizes {
		f = append(f,
			figure{label: fmt.Sprintf("client CPU s per GB acknowledged, produce %s ↓", sizeLabel(size)),
				get: phase(size, func(pc phaseCPU) (float64, bool) { return pc.produce.clientPerGB() })},
			figure{label: fmt.Sprintf("CPUs kept busy by client + server, produce %s", sizeLabel(size)),
				get: phase(size, func(pc phaseCPU) (float64, bool) { return pc.produce.busy() }), share: cpus},
			figure{label: fmt.Sprintf("rest of the machine's CPU s per GB acknowledged (writeback, interrupts), produce %s ↓", sizeLabel(size)),
				get: phase(size, func(pc phaseCPU) (float64, bool) { return pc.produce.otherPerGB() })})
	}
	for _, size := range r.o.sizes {
		f = append(f, figure{label: fmt.Sprintf("consume %s from the start, MB/s", sizeLabel(size)),
			get:   func(m *measurement) (float64, bool) { x, ok := m.consume[size]; return x.mbps, ok },
			share: consumeShare})
	}
	for _, size := range r.o.sizes {
		f = append(f,
			figure{label: fmt.Sprintf("CPUs kept busy by client + server, consume %s", sizeLabel(size)),
				get: phase(size, func(pc phaseCPU) (float64, bool) { return pc.consume.busy() }), share: cpus},
			figure{label: fmt.Sprintf("consume %s: client waiting for fetch responses, %% of the phase", sizeLabel(size)),
				get: phase(size, func(pc phaseCPU) (float64, bool) { return 100 * pc.fetchWait, pc.consume.wall > 0 })})
	}
	lat := fmt.Sprintf("at %d records/s of %s", r.o.rate, sizeLabel(r.o.latencySize))
	f = append(f,
		figure{label: "produce latency p50 " + lat + ", ms ↓", get: func(m *measurement) (float64, bool) { return ms(m.p50), true }},
		figure{label: "produce latency p99 " + lat + ", ms ↓", get: func(m *measurement) (float64, bool) { return ms(m.p99), true }},
		figure{label: "startup to first acknowledged write, ms ↓", get: func(m *measurement) (float64, bool) { return ms(m.startup), m.startupErr == nil }},
		figure{label: "idle RSS after start, MB ↓", get: func(m *measurement) (float64, bool) { return float64(m.idleRSS) / 1e6, true }},
		figure{label: "peak RSS (VmHWM), MB ↓", get: func(m *measurement) (float64, bool) { return float64(m.peakRSS) / 1e6, true }},
		figure{label: "server read+write syscalls per produce request ↓", get: func(m *measurement) (float64, bool) { return m.ioPerProduce, true }},
		figure{label: "server read+write syscalls per fetch request ↓", get: func(m *measurement) (float64, bool) { return m.ioPerFetch, true }},
	)
	if r.o.idleConns > 0 {
		f = append(f, figure{label: fmt.Sprintf("RSS per idle connection (%d open), KB ↓", r.o.idleConns),
			get: func(m *measurement) (float64, bool) {
				if m.clients == nil || !m.clients.connsOK {
					return 0, false
				}
				return m.clients.rssPerConn / 1e3, true
			}})
	}
	if r.o.groups > 0 {
		f = append(f, figure{label: fmt.Sprintf("RSS per consumer group (%d Stable, one member), KB ↓", r.o.groups),
			get: func(m *measurement) (float64, bool) {
				if m.clients == nil || !m.clients.groupsOK {
					return 0, false
				}
				return m.clients.rssPerGroup / 1e3, true
			}})
	}
	if r.o.idleConns > 0 || r.o.groups > 0 {
		with := fmt.Sprintf("with %d idle connections and %d groups present", r.o.idleConns, r.o.groups)
		for _, q := range []struct {
			name string
			get  func(*manyClients) time.Duration
		}{{"p50", func(c *manyClients) time.Duration { return c.p50 }}, {"p99", func(c *manyClients) time.Duration { return c.p99 }}} {
			f = append(f, figure{label: "produce latency " + q.name + " " + lat + " " + with + ", ms ↓",
				get: func(m *measurement) (float64, bool) {
					if m.clients == nil || !m.clients.latencyOK {
						return 0, false
					}
					return ms(q.get(m.clients)), true
				}})
		}
	}
	return f
}

// markdown renders the results section: how it was measured, the table, and the notes the
// numbers need to be read honestly.
func (r *results) markdown(o options, now time.Time) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("Measured %s on %s.\n", now.UTC().Format("2006-01-02"), r.lim.machine)
	p("Machine limits in the same run: loopback TCP, one connection: **%.0f MB/s**; sequential write + one fsync of %d MB to the data directory's disk (%s): **%.0f MB/s**.\n\n",
		r.lim.loopbackMBps, o.diskMB, r.lim.diskFS, r.lim.diskMBps)
	// Only the start counts as a warning: by the end the load average holds this run's own
	// client and servers.
	p("1-minute load average: %.1f before the run, %.1f at its end (which includes the run itself).", r.lim.loadStart, r.lim.loadEnd)
	if r.lim.loadStart > float64(runtime.NumCPU())/2 {
		p(" **Other work was running on the machine: these figures are noisier than a quiet machine's.**")
	}
	tags := ""
	p("\n\n```sh\ngo run %s./cmd/minikraft-bench -duration %v -repeat %d -sizes %s -idle-conns %d -groups %d\n```\n\n", tags, o.duration, o.repeat, sizesFlag(o.sizes), o.idleConns, o.groups)

	p("| figure (median of %d) | minikraft | kfake | minikraft / kfake | minikraft, share of limit | kfake, share of limit | %s | 3 nodes / minikraft |\n", o.repeat, nameCluster3)
	p("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, f := range r.figures() {
		mk, okM := r.median(nameMinikraft, f.get)
		kf, okK := r.median(nameKfake, f.get)
		ratio := "–"
		if okM && okK && kf != 0 {
			ratio = fmt.Sprintf("%.2f×", mk/kf)
		}
		shareM, shareK := "", ""
		if f.share != nil {
			if okM {
				shareM = f.share(mk, r.lim)
			}
			if okK {
				shareK = f.share(kf, r.lim)
			}
		}
		c3, c3ratio := "n/a¹", "–"
		if haveCluster {
			v, ok := r.median(nameCluster3, f.get)
			c3 = r.cell(nameCluster3, v, ok)
			if ok && okM && mk != 0 {
				c3ratio = fmt.Sprintf("%.2f×", v/mk)
			}
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.label, r.cell(nameMinikraft, mk, okM), r.cell(nameKfake, kf, okK), ratio, shareM, shareK, c3, c3ratio)
	}
	p("\n")
	p("↓: lower is better. MB is 10⁶ bytes of record values. Both servers run as their own process, on loopback, with empty data directories and persistence on (minikraft's log, kfake's `DataDir`), neither fsyncing each write (Kafka's default), and are driven by the same franz-go client: acks=all, idempotent, no compression, round-robin over %d partitions, %v linger for throughput and 0 for latency, values from a random (incompressible) buffer. Runs alternate which server goes first. Throughput phases last %v (consume stops when it has read everything produced, or after %v). Latency is measured from when each record was due, so a stall cannot hide. Startup runs from the process's exec to the first acknowledged write to a topic that it auto-creates. Syscalls are the server's `syscr + syscw` from `/proc/<pid>/io` (socket and file reads and writes; not epoll or futex). kfake runs as this benchmark's binary re-executed, so its RSS includes franz-go's client code pages. Server CPU is the process's utime + stime from `/proc/<pid>/stat` over each produce phase (10 ms ticks), divided by the GB of values acknowledged; the three-node cluster runs its nodes in one process, so its figure is the three nodes' sum. Client CPU is the benchmark process's own (getrusage) over the same phase: the franz-go client and nothing else runs in it then. CPUs kept busy is client plus server CPU over the phase's wall time: near the machine's CPU count the phase is CPU-bound, and the server that spends less CPU per GB leaves the client more; well below it, something else (round trips, wake-ups, the disk, another process) sets the rate. The rest of the machine's CPU is /proc/stat's busy time (user, nice, system, irq, softirq) over the phase less client and server: mostly the kernel writing dirty pages back and handling interrupts, which neither process is charged for but which shares the same CPUs. The consume phase's waiting share is, summed over the consumer's fetches, the time from writing each request to having read its whole response (franz-go's ReadWait + TimeToRead), over the phase's wall time (averaged over the brokers fetched from, as the consumer has a fetch in flight to each): franz-go asks a broker for more only after the last response's records are buffered, so the rest is the client's own work, during which the server has nothing to do. The many-clients figures are taken on the idle node right after start, before the throughput phases (whose garbage would leave free resident heap that hides new memory): the server's settled RSS before and after opening the idle connections (each sends one ApiVersions v0 request and reads the answer, then stays silent), then before and after making the consumer groups Stable (one member each, joined, synced and committed through one client whose connections exist before the first reading, heartbeating every 3 s), after as many warm-up groups joined, committed and left, so that what the first groups pay once (the offsets topic, the coordinator's code paged in) is not put on every group; the latency phase then runs again with all of them present.\n\n",
		o.partitions, throughputLinger, o.duration, 2*o.duration)
	if haveCluster {
		p("¹ The three-node cluster replicates every write to three nodes (RF 3, acks=all); kfake has no real replication, so there is no ratio for that column.\n")
	} else {
		p("¹ Three nodes with RF 3: not measured by this build. Build with `-tags minikraft_cluster` (`cmd/minikraft-bench/cluster3.go`, which needs the root package's `minikraft.StartCluster`) to fill the column. kfake has no real replication, so that column has no ratio.\n")
	}
	if o.repeat > 1 {
		r.perRun(&b)
	}
	for _, name := range []string{nameMinikraft, nameKfake, nameCluster3} {
		for _, m := range r.runs[name] {
			if m.startupErr != nil {
				p("\n**%s, repeat %d: the first write after start failed** (left out of the startup median; the run went on once writes were accepted): %v\n", name, m.repeat, oneLine(m.startupErr))
			}
		}
		for _, err := range r.errs[name] {
			p("\n**%s: a run failed:** %v\n", name, oneLine(err))
		}
	}
	return b.String()
}

// perRun lists every run's value, so the spread behind each median is on the page.
func (r *results) perRun(b *strings.Builder) {
	names := []string{nameMinikraft, nameKfake}
	if haveCluster {
		names = append(names, nameCluster3)
	}
	fmt.Fprintf(b, "\n<details><summary>Every run (in the order run)</summary>\n\n| figure | %s |\n|---|%s\n", strings.Join(names, " | "), strings.Repeat("--:|", len(names)))
	for _, f := range r.figures() {
		fmt.Fprintf(b, "| %s |", f.label)
		for _, name := range names {
			var v []string
			for _, m := range r.runs[name] {
				if x, ok := f.get(m); ok {
					v = append(v, num(x))
				}
			}
			fmt.Fprintf(b, " %s |", strings.Join(v, " / "))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n</details>\n")
}

func pct(v, limit float64) string {
	if limit <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*v/limit)
}

// cell is a median, or why there is none: the target was left out (-targets), or every run of
// it failed to measure this figure.
func (r *results) cell(name string, v float64, ok bool) string {
	switch {
	case ok:
		return num(v)
	case len(r.runs[name]) == 0 && len(r.errs[name]) == 0:
		return "not run"
	case len(r.errs[name]) == 0:
		return "–" // the target's runs do not measure this figure (the many-clients phase is one node's)
	}
	return "failed"
}

// num prints three significant digits or whole numbers, whichever is longer: a table of
// medians of three runs has no more precision than that.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return groupThousands(fmt.Sprintf("%.0f", v))
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func sizesFlag(sizes []int) string {
	var s []string
	for _, n := range sizes {
		s = append(s, strings.ReplaceAll(sizeLabel(n), " ", ""))
	}
	return strings.Join(s, ",")
}

func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 400 {
		s = s[:400] + " ..."
	}
	return s
}
