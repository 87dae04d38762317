package log

import (
	"bytes"
	"math"
	"testing"

	mkcompress "github.com/minikraft/minikraft/compress"
)

// TestValidateCompressed: a compressed batch is decompressed and its
// records checked against the header in every codec, with Kafka's error
// classes: CORRUPT_MESSAGE for a payload that does not decompress,
// INVALID_RECORD for records that disagree with the header,
// MESSAGE_TOO_LARGE past the decompression bound.
func TestValidateCompressed(t *testing.T) {
	codecs := mkcompress.Codecs{}
	rec := func(delta byte) []byte { return append(appendVarint(nil, 6), 0, 0, delta, 1, 1, 0) }
	five := simpleBatch(5, 1_700_000_000_000)
	for codec := 1; codec <= 4; codec++ {
		t.Run(codecNames[codec], func(t *testing.T) {
			// raw compresses recs as the records of a batch claiming n.
			raw := func(recs []byte, n int32) []byte {
				z, err := codecs.Compress(codec, nil, recs)
				must(t, err)
				return batchSpec{attrs: int16(codec), rawRecords: z, numRecords: n}.build()
			}
			good := compressBatch(t, five, codec)
			if hs, err := ValidateBatches(good, 0, codecs); err != nil || len(hs) != 1 || hs[0].NumRecords != 5 {
				t.Fatalf("valid batch: %v %v", hs, err)
			}
			corrupt := append([]byte(nil), good...)
			for i := BatchHeaderSize; i < len(corrupt); i++ {
				corrupt[i] ^= 0x5a
			}
			fixCRC(corrupt)
			bomb := bombPayload(t, codec)
			cases := []struct {
				name string
				b    []byte
				want error
			}{
				{"no codecs given", good, ErrCorruptBatch},
				{"corrupt payload", corrupt, ErrCorruptBatch},
				{"truncated payload", raw(nil, 1)[:BatchHeaderSize], ErrCorruptBatch},
				{"not compressed, claims 2^31-1", batchSpec{attrs: int16(codec), rawRecords: five[BatchHeaderSize:], numRecords: math.MaxInt32}.build(), ErrCorruptBatch},
				{"one record, claims five", raw(rec(0), 5), ErrInvalidRecord},
				{"five records, claims one", raw(five[BatchHeaderSize:], 1), ErrInvalidRecord},
				{"five records, claims six", raw(five[BatchHeaderSize:], 6), ErrInvalidRecord},
				{"offset deltas skip", raw(append(rec(0), rec(4)...), 2), ErrInvalidRecord}, // zig-zag 4 is 2
				{"offset deltas repeat", raw(append(rec(0), rec(0)...), 2), ErrInvalidRecord},
				{"bytes after the records", raw(append(rec(0), 0), 1), ErrInvalidRecord},
				{"record length beyond the records", raw([]byte{0x7e, 0, 0, 0, 1, 1, 0}, 1), ErrInvalidRecord},
				{"empty records", raw(nil, 1), ErrInvalidRecord},
				{"decompresses past the bound", batchSpec{attrs: int16(codec), rawRecords: bomb, numRecords: 1}.build(), ErrBatchTooLarge},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					cd := Codecs(codecs)
					if c.name == "no codecs given" {
						cd = nil
					}
					hs, err := ValidateBatches(c.b, 0, cd)
					if hs != nil {
						t.Fatalf("headers %v with error %v", hs, err)
					}
					wantErr(t, err, c.want)
				})
			}
		})
	}
}

// TestValidateCompressedAllocs: validating a compressed batch reuses its
// decompression buffer; only the returned headers are allocated.
func TestValidateCompressedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	plain := jsonBatch(100)
	for codec := 1; codec <= 4; codec++ {
		batch := compressBatch(t, plain, codec)
		ValidateBatches(batch, 0, mkcompress.Codecs{}) // warm the pools
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := ValidateBatches(batch, 0, mkcompress.Codecs{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 3 { // the headers, bytes.Reader
			t.Errorf("%s: %v allocations per batch", codecNames[codec], allocs)
		}
	}
}

// bombPayload is a small payload that decompresses past the bound: 65
// concatenated streams (xerial blocks for snappy) of 1 MiB of zeros.
func bombPayload(t testing.TB, codec int) []byte {
	z, err := mkcompress.Codecs{}.Compress(codec, nil, make([]byte, 1<<20))
	must(t, err)
	head := []byte(nil)
	if codec == 2 { // keep one xerial header, repeat its blocks
		head, z = z[:16], z[16:]
	}
	return append(head, bytes.Repeat(z, mkcompress.MaxDecompressed>>20+1)...)
}
