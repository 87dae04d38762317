package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// measurement is what one run of one target measured.
type measurement struct {
	repeat           int // 1-based, in the order run
	startup          time.Duration
	startupErr       error // the first write failed with a non-retriable error; startup is unset
	idleRSS, peakRSS int64
	produce, consume map[int]rate // by record size
	p50, p99         time.Duration
	ioPerProduce     float64          // server read+write syscalls per produce request
	ioPerFetch       float64          // ... per fetch request
	cpuPerGB         map[int]float64  // server CPU seconds per GB of values acknowledged, by record size
	phases           map[int]phaseCPU // what limited each size's produce and consume phases
	clients          *manyClients     // nil when the phase did not run
}

type rate struct{ mbps, recps float64 }

func (m *measurement) summary() string {
	start := m.startup.Round(time.Millisecond / 10).String()
	if m.startupErr != nil {
		start = "FAILED (" + m.startupErr.Error() + ")"
	}
	s := fmt.Sprintf("startup %s, idle RSS %.1f MB, peak RSS %.1f MB, p50/p99 %v/%v",
		start, float64(m.idleRSS)/1e6, float64(m.peakRSS)/1e6,
		m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond))
	for _, size := range slices.Sorted(maps.Keys(m.produce)) {
		s += fmt.Sprintf("; %s: produce %.1f MB/s consume %.1f MB/s", sizeLabel(size), m.produce[size].mbps, m.consume[size].mbps)
	}
	return s
}

// payload is random, so incompressible, and shared by every record: values are slices of it,
// which costs the client nothing to make. Made on first use, never at package init: the kfake
// child is this binary too, and must not carry 16 MiB of benchmark data in its RSS.
var payload = sync.OnceValue(func() []byte {
	b := make([]byte, 16<<20)
	r := rand.NewChaCha8([32]byte{'m', 'i', 'n', 'i', 'k', 'r', 'a', 'f', 't'})
	r.Read(b)
	return b
})

// valueAt returns the i-th value of the given size, walking through the payload.
func valueAt(i, size int) []byte {
	p := payload()
	n := len(p) / size
	off := (i % n) * size
	return p[off : off+size : off+size]
}

// requestCounter counts the requests the client writes and the fetch responses it reads, so the
// server's syscalls and allocations can be put per request.
type requestCounter struct {
	produce, produceBytes atomic.Int64 // produce requests written, and their bytes
	fetch, fetchBytes     atomic.Int64 // fetch requests written; bytes of fetch responses read
}

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	switch key {
	case 0:
		c.produce.Add(1)
		c.produceBytes.Add(int64(n))
	case 1:
		c.fetch.Add(1)
	}
}

func (c *requestCounter) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if err == nil && key == 1 {
		c.fetchBytes.Add(int64(n))
	}
}

// producerOpts are the producer settings both servers get: franz-go's defaults (acks=all,
// idempotent, 1 MB batches) but no compression, since the values are random and compressing them
// would only measure snappy; round-robin partitioning, so every partition carries the same load;
// and a bounded buffer, so 10 KB records cannot pile up gigabytes in the client.
func producerOpts(addrs []string, topic string, linger time.Duration, hooks ...kgo.Hook) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.MaxBufferedBytes(64 << 20),
		kgo.WithHooks(hooks...),
	}
}

// throughputLinger lets batches fill under load; latencyLinger sends each record at once, so
// the latency phase measures the broker's round trip, not the client's wait.
const (
	throughputLinger = 5 * time.Millisecond
	latencyLinger    = 0
)

// runTarget starts a fresh server in dir and runs every phase against it.
func runTarget(ctx context.Context, t target, dir string, o options) (*measurement, error) {
	s, err := t.start(dir)
	if err != nil {
		return nil, err
	}
	m, err := runPhases(ctx, s, t, o)
	if err != nil {
		// A server that died on its own says why in its output; one that is still up is
		// stopped here (runPhases stops it only after a complete run).
		select {
		case <-s.exited:
			err = fmt.Errorf("%w (the server exited: %s)", err, s.out.String())
		default:
			s.stop()
		}
	}
	return m, err
}

func runPhases(ctx context.Context, s *server, t target, o options) (*measurement, error) {
	var err error
	m := &measurement{produce: map[int]rate{}, consume: map[int]rate{}, cpuPerGB: map[int]float64{}, phases: map[int]phaseCPU{}}
	if m.startup, err = measureStartup(ctx, s); err != nil {
		if ctx.Err() != nil || !errors.Is(err, errFirstWrite) {
			return nil, fmt.Errorf("startup: %w", err)
		}
		// A start whose first write is refused is a finding, not the end of the run: record
		// it, and measure the rest once the server accepts writes.
		m.startupErr = err
		if err := waitWritable(ctx, s.addrs); err != nil {
			return nil, fmt.Errorf("startup: %w", err)
		}
	}
	// Let the start settle (Raft's first snapshot, GC of start-up garbage) before calling the
	// node idle.
	if err := pause(ctx, min(o.duration, time.Second)); err != nil {
		return nil, err
	}
	if _, m.idleRSS, err = s.memory(); err != nil {
		return nil, err
	}
	// Before the throughput phases, while the heap is still small: afterwards the Go servers'
	// heaps have megabytes of free but resident memory that new connections would reuse unseen.
	if t.rf == 1 && (o.idleConns > 0 || o.groups > 0) {
		if m.clients, err = runManyClients(ctx, s, o, t.rf); err != nil {
			return nil, fmt.Errorf("many clients: %w", err)
		}
	}

	topics := []string{"bench-latency"}
	for _, size := range o.sizes {
		topics = append(topics, fmt.Sprintf("bench-%d", size))
	}
	if err := createTopics(ctx, s.addrs, o.partitions, t.rf, topics); err != nil {
		return nil, err
	}

	var cnt requestCounter
	var ioProduce, ioFetch int64
	for _, size := range o.sizes {
		topic := fmt.Sprintf("bench-%d", size)
		before, err := s.ioCalls()
		if err != nil {
			return nil, err
		}
		var pc phaseCPU
		var r rate
		var n int64
		err = pc.produce.measure(s, func() error {
			var err error
			r, n, err = producePhase(ctx, s.addrs, topic, size, o.duration, &cnt)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("produce %s: %w", sizeLabel(size), err)
		}
		mid, err := s.ioCalls()
		if err != nil {
			return nil, err
		}
		m.produce[size] = r
		// n-1 records of size bytes were acknowledged in the timed part (plus the warm-up one).
		if pc.produce.gb = float64(n) * float64(size) / 1e9; pc.produce.gb > 0 {
			m.cpuPerGB[size] = pc.produce.server / pc.produce.gb
		}
		var waits fetchWaits
		err = pc.consume.measure(s, func() error {
			var err error
			m.consume[size], err = consumePhase(ctx, s.addrs, topic, n, 2*o.duration, &cnt, &waits)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("consume %s: %w", sizeLabel(size), err)
		}
		pc.consume.gb = m.consume[size].mbps * pc.consume.wall / 1e3
		pc.fetchWait = waits.share(pc.consume.wall)
		m.phases[size] = pc
		after, err := s.ioCalls()
		if err != nil {
			return nil, err
		}
		ioProduce += mid - before
		ioFetch += after - mid
	}
	m.ioPerProduce = float64(ioProduce) / float64(max(cnt.produce.Load(), 1))
	m.ioPerFetch = float64(ioFetch) / float64(max(cnt.fetch.Load(), 1))

	if m.p50, m.p99, err = latencyPhase(ctx, s.addrs, "bench-latency", o.latencySize, o.rate, o.duration); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	if m.peakRSS, _, err = s.memory(); err != nil {
		return nil, err
	}
	if err := s.stop(); err != nil {
		return nil, err
	}
	return m, nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// measureStartup waits for the listener, then writes one record to a topic that does not exist
// yet, as a developer's first `produce` after `go run ./cmd/minikraft` does. The client retries
// every millisecond and refreshes metadata as often as franz-go allows (10 ms), so the figure is
// the server's, not the client's backoff.
func measureStartup(ctx context.Context, s *server) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.waitListening(ctx); err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.addrs...),
		kgo.DefaultProduceTopic("bench-startup"),
		kgo.AllowAutoTopicCreation(),
		kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return time.Millisecond }),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		return 0, fmt.Errorf("%w: %w", errFirstWrite, err)
	}
	return time.Since(s.launched), nil
}

var errFirstWrite = errors.New("the first write failed")

// waitWritable retries a first write for up to 10 s, after a start whose first write failed.
func waitWritable(ctx context.Context, addrs []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("bench-startup"), kgo.AllowAutoTopicCreation())
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("retry")}).FirstErr()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func createTopics(ctx context.Context, addrs []string, partitions int32, rf int16, topics []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, rf, nil, topics...)
	if err != nil {
		return err
	}
	return res.Error()
}

// producePhase produces as fast as the client can for d, then flushes; the rate counts only
// acknowledged records over the time to the last acknowledgement. It returns the number of
// records now in the topic (including the warm-up record).
func producePhase(ctx context.Context, addrs []string, topic string, size int, d time.Duration, hooks ...kgo.Hook) (rate, int64, error) {
	return producePhaseWith(ctx, addrs, topic, size, d, nil, hooks...)
}

// producePhaseWith is producePhase with extra client options (the -security mode's TLS and SASL).
func producePhaseWith(ctx context.Context, addrs []string, topic string, size int, d time.Duration, extra []kgo.Opt, hooks ...kgo.Hook) (rate, int64, error) {
	cl, err := kgo.NewClient(append(producerOpts(addrs, topic, throughputLinger, hooks...), extra...)...)
	if err != nil {
		return rate{}, 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 4*d+30*time.Second)
	defer cancel()
	// Warm up: metadata, producer id and connections exist before the clock starts.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: valueAt(0, size)}).FirstErr(); err != nil {
		return rate{}, 0, err
	}
	var acked atomic.Int64
	var errOnce sync.Once
	var firstErr error
	cb := func(_ *kgo.Record, err error) {
		if err != nil {
			errOnce.Do(func() { firstErr = err })
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	for i := 1; time.Since(start) < d && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Value: valueAt(i, size)}, cb)
	}
	if err := cl.Flush(ctx); err != nil {
		return rate{}, 0, err
	}
	el := time.Since(start).Seconds()
	if firstErr != nil {
		return rate{}, 0, firstErr
	}
	n := acked.Load()
	return rate{mbps: float64(n) * float64(size) / el / 1e6, recps: float64(n) / el}, n + 1, nil
}

// consumePhase reads the topic from the start until want records arrived or limit passed,
// without a group (a direct consumer), and counts value bytes.
func consumePhase(ctx context.Context, addrs []string, topic string, want int64, limit time.Duration, hooks ...kgo.Hook) (rate, error) {
	return consumePhaseWith(ctx, addrs, topic, want, limit, nil, hooks...)
}

// consumePhaseWith is consumePhase with extra client options.
func consumePhaseWith(ctx context.Context, addrs []string, topic string, want int64, limit time.Duration, extra []kgo.Opt, hooks ...kgo.Hook) (rate, error) {
	start := time.Now()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(hooks...),
	}, extra...)...)
	if err != nil {
		return rate{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var got, bytes int64
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return rate{}, fmt.Errorf("partition %d: %w", fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	if got == 0 {
		return rate{}, errors.New("nothing consumed")
	}
	el := time.Since(start).Seconds()
	return rate{mbps: float64(bytes) / el / 1e6, recps: float64(got) / el}, nil
}

// latencyPhase produces at a fixed rate for d and returns the 50th and 99th percentile of the
// time from when each record was due to its acknowledgement. Measuring from the due time, not
// from the send, keeps a stalled broker from hiding its stall (coordinated omission).
func latencyPhase(ctx context.Context, addrs []string, topic string, size, perSec int, d time.Duration) (p50, p99 time.Duration, err error) {
	cl, err := kgo.NewClient(producerOpts(addrs, topic, latencyLinger)...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 4*d+30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: valueAt(0, size)}).FirstErr(); err != nil {
		return 0, 0, err
	}
	total := int(d.Seconds() * float64(perSec))
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	var firstErr error
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(perSec))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		cl.Produce(ctx, &kgo.Record{Value: valueAt(i, size)}, func(_ *kgo.Record, err error) {
			l := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			lat = append(lat, l)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	if len(lat) == 0 {
		return 0, 0, errors.New("no records acknowledged")
	}
	slices.Sort(lat)
	return percentile(lat, 0.50), percentile(lat, 0.99), nil
}

// percentile of sorted values by the nearest-rank method.
func percentile[T any](sorted []T, q float64) T {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sizeLabel(n int) string {
	switch {
	case n >= 1000_000 && n%1000_000 == 0:
		return fmt.Sprintf("%d MB", n/1000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%d KB", n/1000)
	case n >= 1024 && n%1024 == 0:
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}
