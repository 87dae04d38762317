package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// Codecs decompresses and compresses record payloads (codec ids 1 gzip,
// 2 snappy, 3 lz4, 4 zstd); the log itself is standard library only. The
// broker supplies package compress's through Options.Codecs and to
// ValidateBatches. Without one, the produce path refuses compressed
// batches and the cleaner keeps them whole (they can only have come from
// a leader).
type Codecs interface {
	// Decompress appends the records compressed in src with codec to dst.
	// It bounds what one batch may decompress to; past the bound it fails
	// with an error that has a method TooLarge() bool reporting true.
	Decompress(codec int, dst, src []byte) ([]byte, error)
	// Compress appends src compressed with codec to dst.
	Compress(codec int, dst, src []byte) ([]byte, error)
}

var errNoCodec = errors.New("log: no codec for this compression")

func decompress(c Codecs, codec int, dst, src []byte) ([]byte, error) {
	switch {
	case codec == 0:
		return src, nil
	case c != nil:
		return c.Decompress(codec, dst, src)
	}
	return nil, errNoCodec
}

func compress(c Codecs, codec int, dst, src []byte) ([]byte, error) {
	switch {
	case codec == 0:
		return append(dst, src...), nil
	case c != nil:
		return c.Compress(codec, dst, src)
	}
	return nil, errNoCodec
}

// recordBufs pools the buffers produce-path checks decompress into, so a
// steady stream of compressed produces allocates none. Buffers larger
// than maxPooledRecords are dropped rather than pinned.
var recordBufs sync.Pool // *[]byte

const maxPooledRecords = 4 << 20

// withRecords calls fn with the records of a batch, decompressed into a
// pooled buffer that fn must not retain. A codec failure is classified
// for the client: a batch decompressing past the codec's bound is
// ErrBatchTooLarge (MESSAGE_TOO_LARGE, on which Kafka's producer splits
// the batch), a missing codec or a payload that does not decompress is
// ErrCorruptBatch.
func withRecords(c Codecs, h BatchHeader, batch []byte, fn func(recs []byte) error) error {
	codec := h.Compression()
	if codec == 0 {
		return fn(batch[BatchHeaderSize:])
	}
	bp, _ := recordBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	recs, err := decompress(c, codec, (*bp)[:0], batch[BatchHeaderSize:])
	if err == nil {
		err = fn(recs)
	}
	if cap(recs) <= maxPooledRecords {
		*bp = recs[:0]
		recordBufs.Put(bp)
	}
	var tl interface{ TooLarge() bool }
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoCodec):
		return fmt.Errorf("%w: compression codec %d is not supported", ErrCorruptBatch, codec)
	case errors.As(err, &tl) && tl.TooLarge():
		return fmt.Errorf("%w: %s", ErrBatchTooLarge, err.Error())
	case errors.Is(err, ErrCorruptBatch), errors.Is(err, ErrInvalidRecord):
		return err // from fn
	}
	return fmt.Errorf("%w: decompressing codec %d: %s", ErrCorruptBatch, codec, err.Error())
}

// forEachRecord parses n records that must fill recs exactly and calls fn
// with each record's bytes (its length prefix excluded) and fields; fn
// returning false stops early. Unlike walkRecords it accepts any
// increasing offset deltas: compaction leaves gaps.
func forEachRecord(recs []byte, n int32, fn func(body []byte, r recordFields) bool) error {
	if int64(n) > int64(len(recs))/minRecordSize {
		return fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrCorruptBatch, n, len(recs))
	}
	pos := 0
	for i := int32(0); i < n; i++ {
		length, k := varint32(recs[pos:])
		if k <= 0 || length < minRecordSize-1 || int(length) > len(recs)-pos-k {
			return fmt.Errorf("%w: record %d: bad length", ErrCorruptBatch, i)
		}
		pos += k
		body := recs[pos : pos+int(length)]
		pos += int(length)
		r, err := parseRecord(body)
		if err != nil {
			return fmt.Errorf("%w: record %d: %s", ErrCorruptBatch, i, err.Error())
		}
		if !fn(body, r) {
			return nil
		}
	}
	if pos != len(recs) {
		return fmt.Errorf("%w: %d bytes after the last record", ErrCorruptBatch, len(recs)-pos)
	}
	return nil
}

// batchRecords returns the (decompressed) records of a whole batch.
func batchRecords(c Codecs, h BatchHeader, batch []byte) ([]byte, error) {
	recs, err := decompress(c, h.Compression(), nil, batch[BatchHeaderSize:])
	if err != nil {
		return nil, fmt.Errorf("decompress codec %d: %w", h.Compression(), err)
	}
	return recs, nil
}

// checkKeys rejects batches with a record without a key, as Kafka's
// LogValidator does for a compacted topic. A compressed batch the log
// cannot decompress is refused too: the cleaner could never read it.
func checkKeys(c Codecs, h BatchHeader, batch []byte) error {
	var missing bool
	err := withRecords(c, h, batch, func(recs []byte) error {
		return forEachRecord(recs, h.NumRecords, func(_ []byte, r recordFields) bool {
			missing = r.keyNull
			return !missing
		})
	})
	if err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("%w: Compacted topic cannot accept message without key in topic partition", ErrInvalidRecord)
	}
	return nil
}

// attrDeleteHorizon marks a batch whose first timestamp is the time after
// which its tombstones may be removed (KIP-534).
const attrDeleteHorizon = 0x40

func deleteHorizon(h BatchHeader) (int64, bool) {
	if h.Attributes&attrDeleteHorizon == 0 {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// keptRecord is a record the cleaner keeps: its body and its timestamp.
type keptRecord struct {
	body []byte
	r    recordFields
	ts   int64
}

// buildBatch writes a batch with h's offsets, producer fields and leader
// epoch holding the kept records (Kafka's buildRetainedRecordsInto): the
// last offset delta is kept so the producer's last sequence survives, the
// first timestamp is the delete horizon when set (else the first kept
// record's), record timestamp deltas are re-based on it, and the records
// are compressed with codec (0: none). It appends to dst.
func buildBatch(dst []byte, c Codecs, h BatchHeader, kept []keptRecord, horizon int64, hasHorizon bool, codec int, scratch *[]byte) ([]byte, error) {
	first := kept[0].ts
	if hasHorizon {
		first = horizon
	}
	maxTs := int64(-1)
	recs := (*scratch)[:0]
	for _, k := range kept {
		maxTs = max(maxTs, k.ts)
		var head [1 + 2*binary.MaxVarintLen64]byte
		head[0] = k.body[0] // attributes
		n := 1 + binary.PutVarint(head[1:], k.ts-first)
		n += binary.PutVarint(head[n:], int64(k.r.offDelta))
		tail := k.body[k.r.rest:]
		recs = binary.AppendVarint(recs, int64(n+len(tail)))
		recs = append(recs, head[:n]...)
		recs = append(recs, tail...)
	}
	*scratch = recs
	if h.TimestampType() == 1 {
		maxTs = h.MaxTimestamp
	}
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderSize)...)
	var err error
	if dst, err = compress(c, codec, dst, recs); err != nil {
		return nil, err
	}
	attrs := h.Attributes &^ (attrCompressionMask | attrDeleteHorizon)
	attrs |= int16(codec)
	if hasHorizon {
		attrs |= attrDeleteHorizon
	}
	out := h
	out.Attributes, out.FirstTimestamp, out.MaxTimestamp, out.NumRecords = attrs, first, maxTs, int32(len(kept))
	putHeader(dst[start:], out)
	return dst, nil
}

// appendEmptyBatch appends the header of h with no records (Kafka's
// DefaultRecordBatch.writeEmptyHeader): what compaction keeps of a batch
// whose records all went but whose offsets and producer state must stay.
func appendEmptyBatch(dst []byte, h BatchHeader) []byte {
	out := h
	out.Attributes = h.Attributes & (AttrLogAppendTime | attrTransactional | attrControl)
	out.FirstTimestamp = -1 // no timestamp
	out.NumRecords = 0
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderSize)...)
	putHeader(dst[start:], out)
	return dst
}
