package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The -scale mode (issue 18): what a node costs as it collects partitions. For each count N, a
// fresh minikraft process with an empty data directory gets N partitions as topics of 1,000
// partitions each (one topic of N when N < 1,000), all in one CreateTopics request, and the run
// records:
//
//   - create: from sending CreateTopics to the first acknowledged acks=1 produce to the last
//     partition of the last topic (the controller has committed, the node has opened them all);
//   - idle RSS (VmRSS of /proc/<pid>/status), open files (entries of /proc/<pid>/fd), OS
//     threads (entries of /proc/<pid>/task) and goroutines (runtime.NumGoroutine, from the test
//     admin endpoint's /v1/state) 3 s after that;
//   - clean restart: SIGTERM, wait for the exit (the "stop" column), start the same binary on the
//     same data directory and ports, time from exec to the first acknowledged produce to that
//     last partition;
//   - kill -9 restart: the same after SIGKILL, so without any clean-shutdown state.
//
// The results go to <out>/scale.md, <out>/scale.json and <out>/scale.png; -scale-baseline names
// an earlier scale.json to draw as a second (grey) series and print next to this run's figures.

// scaleCounts holds -scale; empty means the mode is off. It lives here, not in options, so the
// mode is one file plus its dispatch line in main.go.
var scaleCounts []int

// scaleBaseline is -scale-baseline: an earlier run's scale.json, or empty.
var scaleBaseline string

// scaleRender is -scale-render: a scale.json (rows of one or several runs) to write the table and
// plot of, without running anything.
var scaleRender string

// scaleTopicSize is the partitions per topic of the scale run, as in the measurement.
const scaleTopicSize = 1000

// scaleRow is one partition count's figures. Durations are in seconds, sizes in bytes.
type scaleRow struct {
	Partitions     int     `json:"partitions"`
	CreateSec      float64 `json:"create_s"`
	IdleRSS        int64   `json:"idle_rss_bytes"`
	OpenFiles      int     `json:"open_files"`
	Threads        int     `json:"threads"`
	Goroutines     int     `json:"goroutines"`
	StopSec        float64 `json:"clean_stop_s"`
	CleanStartSec  float64 `json:"clean_restart_s"`
	RestartRSS     int64   `json:"restart_rss_bytes"`
	KillStartSec   float64 `json:"kill9_restart_s"`
	DataDirEntries int     `json:"data_dir_files"`
	// Err is the step that failed (a restart past its time limit, say); the figures after it
	// are zero: not measured.
	Err string `json:"error,omitempty"`
}

// parseScale reads "100,1000,10000".
func parseScale(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 200_000 {
			return nil, fmt.Errorf("-scale: bad partition count %q (want 1..200000)", f)
		}
		if n > scaleTopicSize && n%scaleTopicSize != 0 {
			return nil, fmt.Errorf("-scale: %d is not a multiple of %d (topics of %d partitions)", n, scaleTopicSize, scaleTopicSize)
		}
		out = append(out, n)
	}
	return out, nil
}

// scaleNode is one minikraft process of the scale run, restartable on the same directory and
// ports (a one-node quorum keeps its voter address in its Raft state, so the ports must not move).
type scaleNode struct {
	bin, dir string
	args     []string
	addr     string // Kafka listener
	admin    string // test admin endpoint, for the goroutine count
	s        *server
}

func newScaleNode(bin, dir string) (*scaleNode, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	n := &scaleNode{bin: bin, dir: dir,
		addr:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		admin: fmt.Sprintf("127.0.0.1:%d", ports[2]),
	}
	n.args = []string{
		"--node-id", "0",
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[0], ports[1]),
		"--voters", fmt.Sprintf("0@127.0.0.1:%d", ports[1]),
		"--data-dir", filepath.Join(dir, "data"),
		"--log-level", "warn",
		"--test-admin-listen", n.admin,
	}
	return n, nil
}

func (n *scaleNode) start() error {
	s, err := launch(n.dir, []string{n.addr}, n.bin, n.args...)
	n.s = s
	return err
}

// stop sends SIGTERM and waits up to limit for the exit (a node closing thousands of
// partitions may take longer than server.stop's 15 s), then kills it.
func (n *scaleNode) stop(limit time.Duration) error {
	n.s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.s.exited:
		return nil
	case <-time.After(limit):
		n.kill()
		return fmt.Errorf("did not stop within %v of SIGTERM", limit)
	}
}

// kill ends the process with SIGKILL and waits for it.
func (n *scaleNode) kill() {
	select {
	case <-n.s.exited:
		return
	default:
	}
	n.s.cmd.Process.Signal(syscall.SIGKILL)
	<-n.s.exited
}

// procCount counts the entries of /proc/<pid>/<sub> (fd or task).
func procCount(pid int, sub string) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/%s", pid, sub))
	return len(es), err
}

// goroutines asks the node's test admin endpoint for runtime.NumGoroutine.
func (n *scaleNode) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.admin+"/v1/state", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, err
	}
	var st struct {
		Goroutines *int `json:"goroutines"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("/v1/state: %v: %s", err, b)
	}
	if st.Goroutines == nil {
		return 0, errors.New("/v1/state has no goroutines field (an older binary)")
	}
	return *st.Goroutines, nil
}

// scaleTopics names the topics of an N-partition run and their sizes.
func scaleTopics(n int) (names []string, size int32) {
	if n <= scaleTopicSize {
		return []string{"scale-0"}, int32(n)
	}
	for i := 0; i < n/scaleTopicSize; i++ {
		names = append(names, fmt.Sprintf("scale-%d", i))
	}
	return names, scaleTopicSize
}

// produceLast produces one acks=1 record to partition p of topic until it is acknowledged,
// retrying on every error (the node starting, the topic not yet known or not yet led) until ctx
// ends. A fresh client each call: a restarted node must be found from nothing, as a user's
// client would.
func produceLast(ctx context.Context, addr, topic string, p int32) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.RecordRetries(1<<30),
		kgo.UnknownTopicRetries(-1),
		kgo.ProduceRequestTimeout(10*time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")}).FirstErr()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("produce to %s/%d: %w", topic, p, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scaleOne measures one partition count.
func scaleOne(ctx context.Context, bin, work string, n int) (scaleRow, error) {
	row := scaleRow{Partitions: n}
	dir := filepath.Join(work, fmt.Sprintf("scale-%d", n))
	defer os.RemoveAll(dir)
	node, err := newScaleNode(bin, dir)
	if err != nil {
		return row, err
	}
	if err := node.start(); err != nil {
		return row, err
	}
	defer node.kill()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := node.s.waitListening(wctx); err != nil {
		return row, err
	}
	if err := waitWritable(wctx, []string{node.addr}); err != nil {
		return row, fmt.Errorf("first write: %w", err)
	}

	topics, size := scaleTopics(n)
	last, lastP := topics[len(topics)-1], size-1
	limit := time.Duration(n)*10*time.Millisecond + 2*time.Minute
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(node.addr))
	if err != nil {
		return row, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(limit / time.Millisecond))
	t0 := time.Now()
	res, err := adm.CreateTopics(cctx, size, 1, nil, topics...)
	cl.Close()
	if err == nil {
		err = res.Error()
	}
	// A CreateTopics that times out on the controller has still been accepted; the produce
	// below decides when the partitions serve.
	if err != nil && !errors.Is(err, kerr.RequestTimedOut) {
		return row, fmt.Errorf("CreateTopics: %w", err)
	}
	if err := produceLast(cctx, node.addr, last, lastP); err != nil {
		return row, fmt.Errorf("after create: %w", err)
	}
	row.CreateSec = time.Since(t0).Seconds()
	fmt.Fprintf(os.Stderr, "  %d partitions: created and serving in %.2fs\n", n, row.CreateSec)

	if err := pause(ctx, 3*time.Second); err != nil {
		return row, err
	}
	pid := node.s.cmd.Process.Pid
	if _, row.IdleRSS, err = node.s.memory(); err != nil {
		return row, err
	}
	if row.OpenFiles, err = procCount(pid, "fd"); err != nil {
		return row, err
	}
	if row.Threads, err = procCount(pid, "task"); err != nil {
		return row, err
	}
	if row.Goroutines, err = node.goroutines(ctx); err != nil {
		return row, err
	}
	fmt.Fprintf(os.Stderr, "  idle: RSS %.1f MB, %d open files, %d threads, %d goroutines\n",
		float64(row.IdleRSS)/1e6, row.OpenFiles, row.Threads, row.Goroutines)

	// Clean restart.
	t1 := time.Now()
	if err := node.stop(limit); err != nil {
		return row, fmt.Errorf("clean stop: %w", err)
	}
	row.StopSec = time.Since(t1).Seconds()
	if row.CleanStartSec, err = node.restartToServing(ctx, limit, last, lastP); err != nil {
		return row, fmt.Errorf("clean restart: %w", err)
	}
	if err := pause(ctx, 2*time.Second); err != nil {
		return row, err
	}
	if _, row.RestartRSS, err = node.s.memory(); err != nil {
		return row, err
	}
	fmt.Fprintf(os.Stderr, "  clean stop %.2fs, restart to serving %.2fs (RSS then %.1f MB)\n",
		row.StopSec, row.CleanStartSec, float64(row.RestartRSS)/1e6)

	// kill -9 restart.
	node.kill()
	if row.KillStartSec, err = node.restartToServing(ctx, limit, last, lastP); err != nil {
		return row, fmt.Errorf("kill -9 restart: %w", err)
	}
	fmt.Fprintf(os.Stderr, "  kill -9 restart to serving %.2fs\n", row.KillStartSec)
	filepath.WalkDir(filepath.Join(dir, "data"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			row.DataDirEntries++
		}
		return nil
	})
	if err := node.stop(limit); err != nil {
		return row, fmt.Errorf("final stop: %w", err)
	}
	return row, nil
}

// restartToServing starts the node and returns the seconds from exec to the first acknowledged
// produce to topic/p.
func (n *scaleNode) restartToServing(ctx context.Context, limit time.Duration, topic string, p int32) (float64, error) {
	if err := n.start(); err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- produceLast(rctx, n.addr, topic, p) }()
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
	case <-n.s.exited:
		cancel()
		<-done
		return 0, fmt.Errorf("node exited: %s", n.s.out.String())
	}
	return time.Since(n.s.launched).Seconds(), nil
}

// readScaleRows reads a scale.json.
func readScaleRows(flag, path string) ([]scaleRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	var rows []scaleRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return rows, nil
}

func runScale(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var base []scaleRow
	if scaleBaseline != "" {
		var err error
		if base, err = readScaleRows("-scale-baseline", scaleBaseline); err != nil {
			return err
		}
	}
	if scaleRender != "" {
		rows, err := readScaleRows("-scale-render", scaleRender)
		if err != nil {
			return err
		}
		return writeScale(o, rows, base, false)
	}
	work, err := os.MkdirTemp("", "minikraft-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := minikraftBinary(ctx, o, work)
	if err != nil {
		return err
	}
	var rows []scaleRow
	for _, n := range scaleCounts {
		fmt.Fprintf(os.Stderr, "scale: %d partitions ...\n", n)
		row, err := scaleOne(ctx, bin, work, n)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// Keep what was measured: a count whose restart exceeds the limit is a result.
			fmt.Fprintf(os.Stderr, "  %d partitions: %v\n", n, err)
			row.Err = err.Error()
		}
		rows = append(rows, row)
	}
	return writeScale(o, rows, base, true)
}

// writeScale writes scale.md, scale.png and (withJSON) scale.json into -out.
func writeScale(o options, rows, base []scaleRow, withJSON bool) error {
	if withJSON {
		js, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, "scale.json"), append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	md := scaleMarkdown(rows, base, time.Now())
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(o.out, "scale.md"), []byte(md), 0o644); err != nil {
		return err
	}
	png := filepath.Join(o.out, "scale.png")
	if err := writeScalePlot(png, rows, base); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s, scale.json and %s\n", filepath.Join(o.out, "scale.md"), png)
	return nil
}

// scaleMarkdown is the table of a run, with the baseline's figure in parentheses where it has
// the same partition count.
func scaleMarkdown(rows, base []scaleRow, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Partition scale, one node (%s, load %.1f)\n\n", now.UTC().Format("2006-01-02 15:04 UTC"), loadAvg())
	if len(base) > 0 {
		b.WriteString("Figures in parentheses are the baseline run's.\n\n")
	}
	b.WriteString("| partitions | create → serving last | idle RSS | per partition | open files | threads | goroutines | clean stop | clean restart → serving last | kill -9 restart → serving last |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		var br *scaleRow
		for i := range base {
			if base[i].Partitions == r.Partitions {
				br = &base[i]
			}
		}
		cell := func(f func(scaleRow) string) string {
			if br == nil {
				return f(r)
			}
			return f(r) + " (" + f(*br) + ")"
		}
		secs := func(g func(scaleRow) float64) func(scaleRow) string {
			return func(x scaleRow) string {
				if g(x) == 0 {
					return "—"
				}
				return fmt.Sprintf("%.2f s", g(x))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			groupThousands(strconv.Itoa(r.Partitions)),
			cell(secs(func(x scaleRow) float64 { return x.CreateSec })),
			cell(func(x scaleRow) string { return fmt.Sprintf("%.1f MB", float64(x.IdleRSS)/1e6) }),
			cell(func(x scaleRow) string { return fmt.Sprintf("%.1f KB", float64(x.IdleRSS)/1e3/float64(x.Partitions)) }),
			cell(func(x scaleRow) string { return strconv.Itoa(x.OpenFiles) }),
			cell(func(x scaleRow) string { return strconv.Itoa(x.Threads) }),
			cell(func(x scaleRow) string { return strconv.Itoa(x.Goroutines) }),
			cell(secs(func(x scaleRow) float64 { return x.StopSec })),
			cell(secs(func(x scaleRow) float64 { return x.CleanStartSec })),
			cell(secs(func(x scaleRow) float64 { return x.KillStartSec })))
	}
	for _, rs := range [][]scaleRow{rows, base} {
		for _, r := range rs {
			if r.Err != "" {
				which := "this run"
				if len(base) > 0 && &rs[0] == &base[0] {
					which = "baseline"
				}
				fmt.Fprintf(&b, "\n%s, %s partitions: %s (— is not measured).\n", which, groupThousands(strconv.Itoa(r.Partitions)), r.Err)
			}
		}
	}
	b.WriteString("\nCreate: one CreateTopics of topics of 1,000 partitions (RF 1) until an acks=1 produce to the last partition is acknowledged. " +
		"Idle figures 3 s later: VmRSS, entries of /proc/<pid>/fd and /proc/<pid>/task (OS threads), runtime.NumGoroutine from the test admin endpoint. " +
		"Restarts: exec to the first acknowledged produce to the last partition, after SIGTERM (clean) and after SIGKILL.\n")
	return b.String()
}

// scaleFlags registers -scale and -scale-baseline on the command's flag set; -scale is parsed
// as it is set, so a bad list fails flag parsing with the flag's name.
func scaleFlags(fs *flag.FlagSet) {
	fs.Func("scale", "instead of benchmarking, measure one node with these partition counts (e.g. 100,1000,10000): create time, idle RSS, open files, goroutines, clean and kill -9 restart", func(s string) error {
		c, err := parseScale(s)
		scaleCounts = c
		return err
	})
	fs.StringVar(&scaleBaseline, "scale-baseline", "", "with -scale: an earlier run's scale.json to show next to this run")
	fs.StringVar(&scaleRender, "scale-render", "", "instead of running, write scale.md and scale.png of this scale.json (with -scale-baseline)")
}
