package log

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	mkcompress "github.com/minikraft/minikraft/compress"
)

// benchBatch is a 16 KiB batch of 1 KB records.
func benchBatch() []byte { return valueBatch(16, 1000, 1_700_000_000_000) }

func BenchmarkAppend(b *testing.B) {
	for _, tsType := range []string{CreateTime, LogAppendTime} {
		b.Run(tsType, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MessageTimestampType = tsType
			l, err := Open(b.TempDir(), cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := benchBatch()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(batch, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendSmall appends 1 KB batches (an index entry every few).
func BenchmarkAppendSmall(b *testing.B) {
	l, err := Open(b.TempDir(), DefaultConfig(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := valueBatch(10, 100, 1_700_000_000_000)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l, err := Open(b.TempDir(), DefaultConfig(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	const n = 4096 // 64 MiB
	for range n {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	end := l.EndOffset()
	for _, maxBytes := range []int{1 << 20, 64 << 10, 4 << 10} {
		b.Run(sizeName(maxBytes), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(int64(maxBytes))
			b.ReportAllocs()
			for b.Loop() {
				off := rng.Int64N(end)
				if _, err := l.Read(off, maxBytes, end); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidateBatches checks a produce request's batch: 16 records of 1 KB, and 2,300
// records of 100 B (about what a 5 ms linger gathers per partition at 100 B in
// cmd/minikraft-bench), where the walk over the records costs more than the CRC.
func BenchmarkValidateBatches(b *testing.B) {
	for _, c := range []struct {
		name    string
		n, size int
	}{{"1KBx16", 16, 1000}, {"100Bx2300", 2300, 100}} {
		b.Run(c.name, func(b *testing.B) {
			batch := valueBatch(c.n, c.size, 1_700_000_000_000)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ValidateBatches(batch, 1<<20, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// BenchmarkReadRecords writes 1 MiB fetches from random offsets of a
// sealed 64 MiB segment (in the page cache) to a loopback TCP connection
// drained by a goroutine: Read and Write (a copy into a fresh buffer, every
// CRC checked, a copy into the socket), ReadRecords and WriteTo (sendfile),
// and ReadRecords and WriteTo through a writer that hides the descriptor
// (pread into a pooled buffer, then a copy into the socket).
func BenchmarkReadRecords(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l, err := Open(b.TempDir(), cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	for range 4096 { // 64 MiB, then a roll seals the segment
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	l.wmu.Lock()
	err = l.roll()
	l.wmu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	end := l.EndOffset()
	client, server := loopback(b)
	go func() { _, _ = io.CopyBuffer(io.Discard, struct{ io.Reader }{server}, make([]byte, 4<<20)) }()
	const fetch = 1 << 20
	run := func(b *testing.B, send func(off int64) (int64, error)) {
		rng := rand.New(rand.NewPCG(1, 1))
		var total int64
		b.ReportAllocs()
		for b.Loop() {
			n, err := send(rng.Int64N(end))
			if err != nil {
				b.Fatal(err)
			}
			total += n
		}
		b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
	}
	b.Run("Read+Write", func(b *testing.B) {
		run(b, func(off int64) (int64, error) {
			buf, err := l.Read(off, fetch, end)
			if err != nil {
				return 0, err
			}
			n, err := client.Write(buf)
			return int64(n), err
		})
	})
	b.Run("ReadRecords+WriteTo", func(b *testing.B) {
		run(b, func(off int64) (int64, error) {
			r, err := l.ReadRecords(off, fetch, end)
			if err != nil {
				return 0, err
			}
			defer r.Release()
			return r.WriteTo(client)
		})
	})
	b.Run("ReadRecords+WriteTo-nosendfile", func(b *testing.B) {
		w := struct{ io.Writer }{client}
		run(b, func(off int64) (int64, error) {
			r, err := l.ReadRecords(off, fetch, end)
			if err != nil {
				return 0, err
			}
			defer r.Release()
			return r.WriteTo(w)
		})
	})
}

// BenchmarkValidateCompressed is the produce path's check of one
// compressed batch of 100 JSON-like records (~16 KiB uncompressed), per
// codec. SetBytes is the uncompressed size, as a client would count it.
func BenchmarkValidateCompressed(b *testing.B) {
	plain := jsonBatch(100)
	for codec := 1; codec <= 4; codec++ {
		batch := compressBatch(b, plain, codec)
		b.Run(codecNames[codec], func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ValidateBatches(batch, 1<<20, mkcompress.Codecs{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
