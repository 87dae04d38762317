package log

import (
	"fmt"
	"math/rand/v2"
	"testing"
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

func BenchmarkValidateBatches(b *testing.B) {
	batch := benchBatch()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ValidateBatches(batch, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
