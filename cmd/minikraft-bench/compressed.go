package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The -compression mode measures what compressed produces cost the broker, which decompresses
// every compressed batch to check its records (log.ValidateBatches). For each codec, "none"
// first as the reference, and each record size, a fresh minikraft takes acks=all produces from
// the same franz-go client (idempotent, round-robin over the partitions, 5 ms linger) of
// compressible JSON-like values for -duration; reported are records/s, MB/s of record values
// (uncompressed), and the server's CPU time per MB of values (utime+stime from /proc/<pid>/stat),
// which isolates the broker's share on a machine where client and server share the cores.
// Medians over -repeat runs.

// parseCodecs reads "snappy,lz4,zstd,gzip".
func parseCodecs(s string) ([]string, error) {
	var out []string
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(strings.ToLower(c))
		if _, ok := codecs[c]; !ok || c == "none" {
			return nil, fmt.Errorf("-compression: unknown codec %q (want gzip, snappy, lz4, zstd)", c)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

var codecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// textPayload is JSON-like text that compresses about as real events do (to a quarter to a
// third), made on first use; values are windows into it.
var textPayload = sync.OnceValue(func() []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b []byte
	for len(b) < 16<<20 {
		b = fmt.Appendf(b, `{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","ms":%d,"ok":%v}`+"\n",
			r.Int64(), r.IntN(100000), r.IntN(5000), r.IntN(3000), r.IntN(2) == 0)
	}
	return b
})

func textAt(i, size int) []byte {
	p := textPayload()
	off := (i * 7919 % (len(p) - size))
	return p[off : off+size]
}

type compressedRun struct {
	rate
	cpuMsPerMB float64
}

func runCompressed(ctx context.Context, o options) error {
	work, err := os.MkdirTemp("", "minikraft-bench-compression-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := minikraftBinary(ctx, o, work)
	if err != nil {
		return err
	}
	names := append([]string{"none"}, o.compression...)
	runs := map[string][]compressedRun{} // by codec and size
	key := func(c string, size int) string { return c + "/" + strconv.Itoa(size) }
	for rep := 0; rep < o.repeat; rep++ {
		for _, size := range o.sizes {
			for _, c := range names {
				dir := filepath.Join(work, fmt.Sprintf("%s-%d-%d", c, size, rep))
				r, err := compressedOnce(ctx, bin, dir, c, size, o)
				os.RemoveAll(dir)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", c, sizeLabel(size), err)
				}
				fmt.Fprintf(os.Stderr, "repeat %d/%d %s %s: %.0f records/s, %.1f MB/s, %.1f server CPU ms/MB\n",
					rep+1, o.repeat, c, sizeLabel(size), r.recps, r.mbps, r.cpuMsPerMB)
				runs[key(c, size)] = append(runs[key(c, size)], r)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Compressed produce, minikraft (%s per run, median of %d)\n\n", o.duration, o.repeat)
	b.WriteString("| codec | value size | records/s | MB/s (uncompressed values) | server CPU ms per MB |\n|---|---|---|---|---|\n")
	for _, size := range o.sizes {
		for _, c := range names {
			rs := runs[key(c, size)]
			med := func(get func(compressedRun) float64) float64 { return medianOf(rs, get) }
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.1f | %.1f |\n", c, sizeLabel(size),
				med(func(r compressedRun) float64 { return r.recps }), med(func(r compressedRun) float64 { return r.mbps }),
				med(func(r compressedRun) float64 { return r.cpuMsPerMB }))
		}
	}
	fmt.Print(b.String())
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, "compression.md"), []byte(b.String()), 0o644)
}

// compressedOnce starts a fresh server and runs one produce phase with codec.
func compressedOnce(ctx context.Context, bin, dir, codec string, size int, o options) (compressedRun, error) {
	s, err := startMinikraft(bin, dir)
	if err != nil {
		return compressedRun{}, err
	}
	defer s.stop()
	if err := s.waitListening(ctx); err != nil {
		return compressedRun{}, err
	}
	if err := waitWritable(ctx, s.addrs); err != nil {
		return compressedRun{}, err
	}
	if err := createTopics(ctx, s.addrs, o.partitions, 1, []string{"compressed"}); err != nil {
		return compressedRun{}, err
	}
	opts := append(producerOpts(s.addrs, "compressed", throughputLinger), kgo.ProducerBatchCompression(codecs[codec]))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return compressedRun{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 4*o.duration+30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: textAt(0, size)}).FirstErr(); err != nil {
		return compressedRun{}, err
	}
	cpu0, err := s.cpuTime()
	if err != nil {
		return compressedRun{}, err
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
	for i := 1; time.Since(start) < o.duration && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Value: textAt(i, size)}, cb)
	}
	if err := cl.Flush(ctx); err != nil {
		return compressedRun{}, err
	}
	el := time.Since(start).Seconds()
	cpu1, err := s.cpuTime()
	if err != nil {
		return compressedRun{}, err
	}
	if firstErr != nil {
		return compressedRun{}, firstErr
	}
	n := acked.Load()
	mb := float64(n) * float64(size) / 1e6
	return compressedRun{rate: rate{mbps: mb / el, recps: float64(n) / el}, cpuMsPerMB: float64((cpu1 - cpu0).Milliseconds()) / mb}, nil
}

// cpuTime is the server's user+system CPU time so far (procCPUSeconds).
func (s *server) cpuTime() (time.Duration, error) {
	sec, err := s.cpuSeconds()
	return time.Duration(sec * float64(time.Second)), err
}
