package log

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	mkcompress "github.com/minikraft/minikraft/compress"
)

func TestParseBatchHeader(t *testing.T) {
	b := batchSpec{baseOffset: 42, epoch: 7, attrs: attrTransactional | 3, firstTs: 1000,
		producerID: 99, producerEpoch: 3, baseSeq: 12,
		records: []testRecord{{value: []byte("a")}, {value: []byte("b"), tsDelta: 5}}}.build()
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{BaseOffset: 42, Length: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2,
		CRC: crc32.Checksum(b[21:], castagnoli), Attributes: attrTransactional | 3, LastOffsetDelta: 1,
		FirstTimestamp: 1000, MaxTimestamp: 1005, ProducerID: 99, ProducerEpoch: 3, BaseSequence: 12, NumRecords: 2}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.LastOffset() != 43 || h.Size() != len(b) || h.Compression() != 3 || !h.IsTransactional() || h.IsControl() || h.TimestampType() != 0 {
		t.Fatalf("accessors wrong: %d %d %d %v %v %d", h.LastOffset(), h.Size(), h.Compression(), h.IsTransactional(), h.IsControl(), h.TimestampType())
	}
	if _, err := ParseBatchHeader(b[:60]); err == nil {
		t.Fatal("short header accepted")
	}
}

// TestKmsgCrossCheck checks the test builder (and so the validator's idea of
// the format) against franz-go's encoding of the same batch.
func TestKmsgCrossCheck(t *testing.T) {
	recs := []testRecord{
		{key: []byte("k0"), value: []byte("hello"), tsDelta: 0},
		{key: nil, value: []byte("world"), tsDelta: 300, headers: [][2][]byte{{[]byte("h"), []byte("v")}, {[]byte("n"), nil}}},
		{key: []byte{}, value: nil, tsDelta: -2},
	}
	ours := batchSpec{baseOffset: 5, epoch: 3, firstTs: 1_700_000_000_000, producerID: 77, producerEpoch: 1, baseSeq: 10, records: recs}.build()

	var raw []byte
	for i, r := range recs {
		kr := kmsg.Record{Attributes: 0, TimestampDelta64: r.tsDelta, OffsetDelta: int32(i), Key: r.key, Value: r.value}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h[0]), Value: h[1]})
		}
		body := kr.AppendTo(nil)
		kr.Length = int32(len(body) - 1) // AppendTo wrote a one-byte zero length first
		raw = kr.AppendTo(raw)
	}
	kb := kmsg.RecordBatch{FirstOffset: 5, PartitionLeaderEpoch: 3, Magic: 2, LastOffsetDelta: 2,
		FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_300, ProducerID: 77, ProducerEpoch: 1,
		FirstSequence: 10, NumRecords: 3, Records: raw}
	kb.Length = int32(49 + len(raw))
	enc := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(enc[17:], crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(enc, ours) {
		t.Fatalf("builder disagrees with kmsg\n ours %x\n kmsg %x", ours, enc)
	}
	hs, err := ValidateBatches(enc, 0, nil)
	if err != nil || len(hs) != 1 || hs[0].NumRecords != 3 {
		t.Fatalf("ValidateBatches(kmsg batch) = %v, %v", hs, err)
	}
	// And the other way: kmsg reads what we validated.
	var back kmsg.RecordBatch
	if err := back.ReadFrom(ours); err != nil || back.CRC != int32(hs[0].CRC) {
		t.Fatalf("kmsg ReadFrom: %v (crc %x)", err, back.CRC)
	}
}

func TestValidateBatchesOK(t *testing.T) {
	one := simpleBatch(3, 100)
	comp := compressBatch(t, simpleBatch(9, 0), 4)
	nulls := batchSpec{records: []testRecord{{key: nil, value: nil}}}.build()
	payload := append(append(append([]byte{}, one...), comp...), nulls...)
	hs, err := ValidateBatches(payload, 1<<20, mkcompress.Codecs{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[0].NumRecords != 3 || hs[1].NumRecords != 9 || hs[1].Compression() != 4 || hs[2].NumRecords != 1 {
		t.Fatalf("headers %+v", hs)
	}
}

func TestValidateBatchesErrors(t *testing.T) {
	good := simpleBatch(3, 100)
	mod := func(f func(b []byte) []byte, crc bool) []byte {
		b := f(append([]byte(nil), good...))
		if crc {
			fixCRC(b)
		}
		return b
	}
	be := binary.BigEndian
	recordsBatch := func(raw []byte, n int32) []byte {
		return batchSpec{rawRecords: raw, numRecords: n}.build()
	}
	rec := func(body ...byte) []byte { return append(appendVarint(nil, int64(len(body))), body...) }
	cases := []struct {
		name string
		b    []byte
		max  int
		want error
	}{
		{"empty", nil, 0, ErrInvalidRecord},
		{"short header", good[:40], 0, ErrCorruptBatch},
		{"truncated batch", good[:len(good)-1], 0, ErrCorruptBatch},
		{"trailing bytes", append(append([]byte(nil), good...), 1, 2, 3), 0, ErrCorruptBatch},
		{"magic 1", mod(func(b []byte) []byte { b[16] = 1; return b }, false), 0, ErrCorruptBatch},
		{"length too small", mod(func(b []byte) []byte { be.PutUint32(b[8:], 10); return b }, false), 0, ErrCorruptBatch},
		{"negative length", mod(func(b []byte) []byte { be.PutUint32(b[8:], math.MaxUint32); return b }, false), 0, ErrCorruptBatch},
		{"length beyond input", mod(func(b []byte) []byte { be.PutUint32(b[8:], 1<<30); return b }, false), 0, ErrCorruptBatch},
		{"too large", good, len(good) - 1, ErrBatchTooLarge},
		{"crc flipped", mod(func(b []byte) []byte { b[17] ^= 1; return b }, false), 0, ErrCorruptBatch},
		{"payload flipped", mod(func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }, false), 0, ErrCorruptBatch},
		{"count zero", mod(func(b []byte) []byte { be.PutUint32(b[57:], 0); return b }, true), 0, ErrInvalidRecord},
		{"count mismatch", mod(func(b []byte) []byte { be.PutUint32(b[57:], 2); return b }, true), 0, ErrInvalidRecord},
		{"count and delta both wrong", mod(func(b []byte) []byte { be.PutUint32(b[57:], 4); be.PutUint32(b[23:], 3); return b }, true), 0, ErrInvalidRecord},
		{"producer id without sequence", batchSpec{producerID: 5, baseSeq: -1, records: []testRecord{{value: []byte("x")}}}.build(), 0, ErrInvalidRecord},
		{"control batch", mod(func(b []byte) []byte { b[22] |= attrControl; return b }, true), 0, ErrInvalidRecord},
		{"unknown codec", mod(func(b []byte) []byte { b[22] |= 5; return b }, true), 0, ErrCorruptBatch},
		{"offset delta skips", recordsBatch(append(rec(0, 0, 0, 1, 1, 0), rec(0, 0, 4, 1, 1, 0)...), 2), 0, ErrInvalidRecord},
		{"record bytes left", recordsBatch(append(rec(0, 0, 0, 1, 1, 0), 9), 1), 0, ErrInvalidRecord},
		{"record too long", recordsBatch([]byte{0x7e, 0, 0, 0, 1, 1, 0}, 1), 0, ErrInvalidRecord},
		{"record body mismatch", recordsBatch(rec(0, 0, 0, 1, 1, 0, 7), 1), 0, ErrInvalidRecord},
		{"negative header count", recordsBatch(rec(0, 0, 0, 1, 1, 1), 1), 0, ErrInvalidRecord},
		{"null header key", recordsBatch(rec(0, 0, 0, 1, 1, 2, 1, 0), 1), 0, ErrInvalidRecord},
		{"varint too long", recordsBatch(rec(0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 1, 0), 1), 0, ErrInvalidRecord},
		{"key beyond record", recordsBatch(rec(0, 0, 0, 40, 1, 0), 1), 0, ErrInvalidRecord},
		{"claims many records", recordsBatch(rec(0, 0, 0, 1, 1, 0), math.MaxInt32), 0, ErrInvalidRecord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ValidateBatches(c.b, c.max, nil)
			wantErr(t, err, c.want)
		})
	}
}

// TestValidateBatchesNoClaimedAlloc feeds inputs whose claimed lengths and
// counts are huge and checks the validator's allocations stay tiny.
func TestValidateBatchesNoClaimedAlloc(t *testing.T) {
	be := binary.BigEndian
	inputs := [][]byte{
		func() []byte {
			b := simpleBatch(1, 0)
			be.PutUint32(b[8:], math.MaxInt32)
			return b
		}(),
		batchSpec{rawRecords: []byte{0xfe, 0xff, 0xff, 0xff, 0x07}, numRecords: math.MaxInt32}.build(),
		batchSpec{rawRecords: append(appendVarint(nil, 1<<30), make([]byte, 20)...), numRecords: 1}.build(),
	}
	for i, in := range inputs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 100 {
			if _, err := ValidateBatches(in, 0, nil); err == nil {
				t.Fatalf("input %d accepted", i)
			}
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 100*1024 {
			t.Fatalf("input %d: %d bytes allocated over 100 runs", i, d)
		}
	}
}

func TestVarints(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, math.MaxInt32, math.MinInt32} {
		b := appendVarint(nil, v)
		got, k := varint32(b)
		if k != len(b) || int64(got) != v {
			t.Fatalf("varint32(%d) = %d, %d", v, got, k)
		}
	}
	for _, v := range []int64{math.MaxInt64, math.MinInt64, 1 << 40} {
		b := appendVarint(nil, v)
		got, k := varint64(b)
		if k != len(b) || got != v {
			t.Fatalf("varint64(%d) = %d, %d", v, got, k)
		}
	}
	if _, k := varint32([]byte{0x80, 0x80}); k > 0 {
		t.Fatal("truncated varint accepted")
	}
	if _, k := varint32([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}); k > 0 {
		t.Fatal("6-byte varint32 accepted")
	}
}
