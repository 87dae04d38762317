package minikraft_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
)

// rawBatch frames records (already compressed with codec, or not) as a
// RecordBatch v2 claiming numRecords, with a correct CRC: the lies are in
// the records, which only decompressing them can show.
func rawBatch(codec int, records []byte, numRecords int32) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, Attributes: int16(codec), LastOffsetDelta: numRecords - 1,
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: numRecords, Records: records}
	b.Length = int32(log.BatchHeaderSize - 12 + len(records))
	enc := b.AppendTo(nil)
	binary.BigEndian.PutUint32(enc[17:], crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	return enc
}

// plainRecords encodes n keyed records, uncompressed, without a batch header.
func plainRecords(n int) []byte {
	kvs := make([]log.KeyValue, n)
	for i := range kvs {
		kvs[i] = log.KeyValue{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i)}
	}
	return log.EncodeBatch(kvs, 0)[log.BatchHeaderSize:]
}

func mustCompress(t *testing.T, codec int, src []byte) []byte {
	t.Helper()
	z, err := compress.Codecs{}.Compress(codec, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

var codecName = map[int]string{compress.Gzip: "gzip", compress.Snappy: "snappy", compress.Lz4: "lz4", compress.Zstd: "zstd"}

// TestProduceLyingCompressedBatches sends, over a client connection, compressed batches whose
// records disagree with their header or do not decompress, to a plain and a compacted topic. Each
// is refused with Kafka's error code and leaves the log end offset where it was; valid batches in
// every codec are then accepted and read back. Before produce validation decompressed, the first
// of them (84 bytes) moved the log end by 2^31-1 and every consumer failed at offset 0.
func TestProduceLyingCompressedBatches(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	adm := kadm.NewClient(cl)
	topics := map[string]map[string]*string{"lies": nil, "lies-compacted": {"cleanup.policy": kadm.StringPtr("compact")}}
	for topic, cfg := range topics {
		if _, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitForLeaders(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	one, five := plainRecords(1), plainRecords(5)
	type lie struct {
		name  string
		batch []byte
		want  *kerr.Error
	}
	lies := []lie{
		{"gzip flag, payload not gzip, claims 2^31-1 records", rawBatch(compress.Gzip, []byte("this is not gzip at all"), math.MaxInt32), kerr.CorruptMessage},
		{"gzip holding one record, claims five", rawBatch(compress.Gzip, mustCompress(t, compress.Gzip, one), 5), kerr.InvalidRecord},
	}
	for codec := compress.Gzip; codec <= compress.Zstd; codec++ {
		z := mustCompress(t, codec, five)
		corrupt := bytes.Clone(z)
		for i := len(corrupt) / 4; i < len(corrupt); i++ {
			corrupt[i] ^= 0xa5
		}
		name := codecName[codec]
		lies = append(lies,
			lie{name + ": corrupt payload", rawBatch(codec, corrupt, 5), kerr.CorruptMessage},
			lie{name + ": truncated payload", rawBatch(codec, z[:len(z)/2], 5), kerr.CorruptMessage},
			lie{name + ": five records, claims four", rawBatch(codec, z, 4), kerr.InvalidRecord},
			lie{name + ": offset deltas 0, 2", rawBatch(codec, mustCompress(t, codec, append(bytes.Clone(one), withOffsetDelta(one, 2)...)), 2), kerr.InvalidRecord},
		)
		// snappy compresses too little to get past max.message.bytes. Under the race detector
		// a 64 MiB decompression takes seconds per bomb; compress's own tests cover the bound.
		if codec != compress.Snappy && !raceEnabled {
			lies = append(lies, lie{name + ": decompresses past the bound", rawBatch(codec, bomb(t, codec), 1), kerr.MessageTooLarge})
		}
	}
	for topic := range topics {
		for _, l := range lies {
			before := endOffset(ctx, t, adm, topic)
			if got := produceRaw(ctx, t, cl, topic, l.batch); got != l.want.Code {
				t.Errorf("%s, %s: error %v, want %v", topic, l.name, kerr.ErrorForCode(got), l.want)
			}
			if after := endOffset(ctx, t, adm, topic); after != before {
				t.Fatalf("%s, %s: log end offset moved from %d to %d", topic, l.name, before, after)
			}
		}
		// The log still works: a valid batch in each codec is appended and read back.
		for codec := compress.Gzip; codec <= compress.Zstd; codec++ {
			if got := produceRaw(ctx, t, cl, topic, rawBatch(codec, mustCompress(t, codec, five), 5)); got != 0 {
				t.Fatalf("%s: valid %s batch refused: %v", topic, codecName[codec], kerr.ErrorForCode(got))
			}
		}
		if end := endOffset(ctx, t, adm, topic); end != 20 {
			t.Fatalf("%s: log end %d after four batches of five", topic, end)
		}
		cons := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for n := 0; n < 20; {
			fs := cons.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("%s: consuming: %v", topic, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if want := fmt.Sprintf("value %d", n%5); string(r.Value) != want || r.Offset != int64(n) {
					t.Fatalf("%s: record %d at %d is %q, want %q", topic, n, r.Offset, r.Value, want)
				}
				n++
			})
		}
	}
}

// withOffsetDelta re-encodes the single record in recs with offset delta d.
func withOffsetDelta(recs []byte, d int64) []byte {
	_, k := binary.Varint(recs)
	body := recs[k:]
	// body: attributes, timestamp delta (one byte, 0), offset delta (one byte, 0), the rest.
	out := []byte{body[0], body[1]}
	out = binary.AppendVarint(out, d)
	out = append(out, body[3:]...)
	return append(binary.AppendVarint(nil, int64(len(out))), out...)
}

// bomb is a small payload in codec that decompresses past compress.MaxDecompressed: concatenated
// streams of 1 MiB of zeros.
func bomb(t *testing.T, codec int) []byte {
	z := mustCompress(t, codec, make([]byte, 1<<20))
	return bytes.Repeat(z, compress.MaxDecompressed>>20+1)
}

// produceRaw sends batch to partition 0 of topic with acks=all and returns the partition's error code.
func produceRaw(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, batch []byte) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response: %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func endOffset(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}
