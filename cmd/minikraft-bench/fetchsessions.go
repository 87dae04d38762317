package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The -fetch-sessions mode: what fetch sessions (KIP-227) save a consumer of many partitions.
// One minikraft process, one topic of N partitions holding one record each; a franz-go consumer
// reads those, then idles, long-polling with a short MaxWait, so every fetch names (or, with a
// session, leaves out) all N partitions and returns nothing. Phases alternate between full
// fetches (kgo.DisableFetchSessions: SessionEpoch -1 every time, as before sessions) and
// sessions (franz-go's default); per fetch it reports the request and response bytes on the wire
// (kgo's broker write/read hooks) and the server's CPU (utime+stime from /proc/<pid>/stat over
// the phase, divided by the fetches the client made).

// fetchSessionsWait is the consumer's fetch.max.wait: short, so that a phase holds many fetches.
const fetchSessionsWait = 50 * time.Millisecond

// fetchCounter counts a client's Fetch requests and their bytes.
type fetchCounter struct {
	mu          sync.Mutex
	n           int
	reqB, respB int64
}

func (f *fetchCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key != 1 || err != nil {
		return
	}
	f.mu.Lock()
	f.n++
	f.reqB += int64(n)
	f.mu.Unlock()
}

func (f *fetchCounter) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key != 1 || err != nil {
		return
	}
	f.mu.Lock()
	f.respB += int64(n)
	f.mu.Unlock()
}

func (f *fetchCounter) snapshot() (n int, reqB, respB int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.reqB, f.respB
}

// fetchPhase is one phase's figures.
type fetchPhase struct {
	sessions         bool
	fetches          int
	reqBytes, respB  float64 // per fetch
	cpuMicros        float64 // server CPU per fetch
	cpuPercent, secs float64
}

func runFetchSessions(ctx context.Context, o options, partitions int) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	s, done, err := startOwnMinikraft(ctx, o, "minikraft-bench-fs-")
	if err != nil {
		return err
	}
	defer done()
	const topic = "fetch-sessions"
	if err := createTopics(ctx, s.addrs, int32(partitions), 1, []string{topic}); err != nil {
		return err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(s.addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	var rs []*kgo.Record
	for p := range partitions {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("x")})
	}
	err = prod.ProduceSync(ctx, rs...).FirstErr()
	prod.Close()
	if err != nil {
		return err
	}

	d := 2 * o.duration
	var phases []fetchPhase
	for rep := 0; rep < o.repeat; rep++ {
		for i := range 2 {
			sessions := (i+rep)%2 == 1
			fmt.Fprintf(os.Stderr, "repeat %d/%d: %d partitions, sessions %v ...\n", rep+1, o.repeat, partitions, sessions)
			ph, err := fetchSessionsPhase(ctx, s, topic, partitions, sessions, d)
			if err != nil {
				return err
			}
			phases = append(phases, ph)
		}
	}
	md := fetchSessionsMarkdown(partitions, d, phases)
	fmt.Print(md)
	return os.WriteFile(filepath.Join(o.out, "fetch-sessions.md"), []byte(md), 0o644)
}

// fetchSessionsPhase consumes the topic's records (the first fetches, not measured), then counts
// the idle fetches of the next d.
func fetchSessionsPhase(ctx context.Context, s *server, topic string, partitions int, sessions bool, d time.Duration) (fetchPhase, error) {
	fc := &fetchCounter{}
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(fetchSessionsWait),
		kgo.WithHooks(fc),
	}
	if !sessions {
		opts = append(opts, kgo.DisableFetchSessions())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fetchPhase{}, err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for got := 0; got < partitions; {
		fs := cl.PollFetches(cctx)
		if err := fs.Err0(); err != nil {
			return fetchPhase{}, err
		}
		got += fs.NumRecords()
	}
	time.Sleep(3 * fetchSessionsWait) // let the fetch that carried the last records settle
	n0, req0, resp0 := fc.snapshot()
	cpu0, err := s.cpuTime()
	if err != nil {
		return fetchPhase{}, err
	}
	start := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return fetchPhase{}, ctx.Err()
	}
	cpu1, err := s.cpuTime()
	if err != nil {
		return fetchPhase{}, err
	}
	secs := time.Since(start).Seconds()
	n1, req1, resp1 := fc.snapshot()
	n := n1 - n0
	if n == 0 {
		return fetchPhase{}, fmt.Errorf("no fetches in %v", d)
	}
	cpu := (cpu1 - cpu0).Seconds()
	return fetchPhase{
		sessions: sessions, fetches: n, secs: secs,
		reqBytes: float64(req1-req0) / float64(n), respB: float64(resp1-resp0) / float64(n),
		cpuMicros: cpu * 1e6 / float64(n), cpuPercent: 100 * cpu / secs,
	}, nil
}

func fetchSessionsMarkdown(partitions int, d time.Duration, phases []fetchPhase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Fetch sessions: an idle consumer of %d partitions\n\n", partitions)
	fmt.Fprintf(&b, "franz-go consumer, fetch.max.wait %v, %v per phase, nothing produced during a phase: every fetch reads all %d partitions and returns no records. "+
		"Full = `kgo.DisableFetchSessions()` (SessionEpoch -1, every partition in every request and response); sessions = franz-go's default (KIP-227 incremental fetches). "+
		"Bytes are the client's Fetch request and response frames; server CPU is utime+stime of the minikraft process over the phase divided by the fetches.\n\n",
		fetchSessionsWait, d, partitions)
	b.WriteString("| mode | fetches | request bytes / fetch | response bytes / fetch | server CPU / fetch | server CPU |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range phases {
		mode := "full"
		if p.sessions {
			mode = "sessions"
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.0f µs | %.1f %% |\n", mode, p.fetches, p.reqBytes, p.respB, p.cpuMicros, p.cpuPercent)
	}
	b.WriteString("\n")
	return b.String()
}

// startOwnMinikraft starts a minikraft process (o.minikraft, or one built for the run) with its
// data in a fresh temporary directory and waits until it listens; done stops it and removes the
// directory.
func startOwnMinikraft(ctx context.Context, o options, prefix string) (s *server, done func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	bin, err := minikraftBinary(ctx, o, dir)
	if err != nil {
		return nil, nil, err
	}
	if s, err = startMinikraft(bin, filepath.Join(dir, "data")); err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err = s.waitListening(wctx); err != nil {
		s.stop()
		return nil, nil, err
	}
	return s, func() { s.stop(); os.RemoveAll(dir) }, nil
}
