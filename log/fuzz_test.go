package log

import (
	"errors"
	"runtime"
	"testing"

	mkcompress "github.com/minikraft/minikraft/compress"
)

// FuzzValidateBatches: ValidateBatches never panics, accepts only input
// that frames into CRC-valid batches covering it exactly, fails only with
// the package's sentinels, and never allocates by a length claimed in the
// input (a compressed payload may make it allocate up to the codecs'
// bound, not more). With fix set, the first batch's CRC is recomputed
// first so the fuzzer can reach the record parser and, for compressed
// batches, the codecs; accepted compressed batches are read back by the
// cleaner's record walk, so a compacted log never holds one it cannot
// read. The seeds hold a valid batch in each codec.
func FuzzValidateBatches(f *testing.F) {
	f.Add(simpleBatch(3, 100), false)
	f.Add(append(simpleBatch(1, 0), valueBatch(2, 30, 5)...), false)
	f.Add(batchSpec{attrs: 3, rawRecords: []byte("lz4"), numRecords: 2}.build(), false)
	f.Add(batchSpec{records: []testRecord{{key: nil, value: nil, headers: [][2][]byte{{[]byte("k"), nil}}}}}.build(), true)
	f.Add(simpleBatch(2, 0)[:70], true)
	f.Add([]byte{}, false)
	for codec := 1; codec <= 4; codec++ {
		f.Add(compressBatch(f, simpleBatch(3, 100), codec), false)
		f.Add(compressBatch(f, batchSpec{records: []testRecord{{key: []byte("k"), headers: [][2][]byte{{[]byte("h"), nil}}}}}.build(), codec), true)
	}
	codecs := mkcompress.Codecs{}
	var ms runtime.MemStats
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix && len(data) >= BatchHeaderSize {
			if h := decodeHeader(data); h.Length >= minBatchLength && h.Size() <= len(data) {
				fixCRC(data[:h.Size()])
			}
		}
		measure := len(data)%8 == 0 // ReadMemStats stops the world: sample
		var before uint64
		if measure {
			runtime.ReadMemStats(&ms)
			before = ms.TotalAlloc
		}
		hs, err := ValidateBatches(data, 1<<20, codecs)
		if measure {
			runtime.ReadMemStats(&ms)
			// Generous: headers plus error text, plus the decompression
			// buffer's growth when a batch is compressed. A claimed length
			// trusted even once would blow far past it.
			limit := uint64(4*len(data)) + 64<<10
			if anyCompressed(data) {
				limit += 3 * mkcompress.MaxDecompressed
			}
			if d := ms.TotalAlloc - before; d > limit {
				t.Fatalf("%d bytes allocated validating %d bytes", d, len(data))
			}
		}
		if err != nil {
			if hs != nil {
				t.Fatal("headers returned with an error")
			}
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		p := 0
		for _, h := range hs {
			if h.NumRecords <= 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 || h.Magic != 2 {
				t.Fatalf("accepted header %+v", h)
			}
			batch := data[p : p+h.Size()]
			if decodeHeader(batch) != h || batchCRC(batch) != h.CRC {
				t.Fatalf("header %+v does not match the bytes", h)
			}
			recs, err := batchRecords(codecs, h, batch)
			if err == nil {
				err = forEachRecord(recs, h.NumRecords, func([]byte, recordFields) bool { return true })
			}
			if err != nil {
				t.Fatalf("accepted batch %+v the cleaner cannot read: %v", h, err)
			}
			p += h.Size()
		}
		if p != len(data) {
			t.Fatalf("headers cover %d of %d bytes", p, len(data))
		}
	})
}

// anyCompressed reports whether any batch header framed in data has a
// compression codec.
func anyCompressed(data []byte) bool {
	for len(data) >= BatchHeaderSize {
		h := decodeHeader(data)
		if h.Compression() != 0 {
			return true
		}
		if h.Length < minBatchLength || h.Size() > len(data) {
			return false
		}
		data = data[h.Size():]
	}
	return false
}
