package log

import (
	"fmt"
	"math/rand/v2"
	"testing"

	mkcompress "github.com/minikraft/minikraft/compress"
)

// codecNames are the codecs by id, for subtests and benchmarks.
var codecNames = map[int]string{1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

// compressBatch returns plain (an uncompressed test batch) with its
// records compressed with codec and the header otherwise unchanged.
func compressBatch(t testing.TB, plain []byte, codec int) []byte {
	t.Helper()
	h := decodeHeader(plain)
	z, err := mkcompress.Codecs{}.Compress(codec, nil, plain[BatchHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	return batchSpec{baseOffset: h.BaseOffset, epoch: h.PartitionLeaderEpoch, attrs: h.Attributes | int16(codec),
		firstTs: h.FirstTimestamp, maxTs: h.MaxTimestamp, producerID: h.ProducerID, producerEpoch: h.ProducerEpoch,
		baseSeq: h.BaseSequence, rawRecords: z, numRecords: h.NumRecords}.build()
}

// jsonBatch is a batch of n JSON-like records of about 200 bytes, which
// compress as real payloads do (to a third or so), not as zeros.
func jsonBatch(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{key: fmt.Appendf(nil, "user-%d", r.IntN(10000)), tsDelta: int64(i),
			value: fmt.Appendf(nil, `{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","ms":%d,"ok":%v,"ua":"Mozilla/5.0 (X11; Linux x86_64)"}`,
				r.Int64(), r.IntN(10000), r.IntN(500), r.IntN(3000), r.IntN(2) == 0)}
	}
	return batchSpec{firstTs: 1_700_000_000_000, producerID: 1, baseSeq: 0, records: recs}.build()
}
