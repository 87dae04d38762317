package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// BatchHeaderSize is the size of a RecordBatch v2 header: everything before
// the first record.
const BatchHeaderSize = 61

// Byte positions of the v2 header fields (Kafka's DefaultRecordBatch).
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// logOverhead is the base offset and length prefix, which batchLength
	// does not count.
	logOverhead = 12
	// minBatchLength is the smallest legal batchLength: a header with no records.
	minBatchLength = BatchHeaderSize - logOverhead

	// minRecordSize is the smallest encoded record: a one-byte length varint
	// and a body of attributes, timestampDelta, offsetDelta, key length, value
	// length and header count, one byte each.
	minRecordSize = 7

	attrCompressionMask = 0x07
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// AttrLogAppendTime is the timestamp-type attribute bit: set, the batch's
// max timestamp is the time the leader appended it (LogAppendTime).
const AttrLogAppendTime = 0x08

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded header of one RecordBatch v2.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // the batchLength field: bytes after it
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the batch's size on the wire and on disk.
func (h BatchHeader) Size() int { return logOverhead + int(h.Length) }

// Compression is the codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Compression() int { return int(h.Attributes & attrCompressionMask) }

// IsTransactional reports the transactional attribute bit.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control-batch attribute bit (transaction markers).
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// TimestampType is 0 for CreateTime and 1 for LogAppendTime.
func (h BatchHeader) TimestampType() int { return int(h.Attributes&AttrLogAppendTime) >> 3 }

// ParseBatchHeader decodes the header at the start of b and checks what the
// header alone can tell: enough bytes, magic 2, batchLength at least the
// header's own size. It does not check the CRC or that the whole batch is in b.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, need %d for a header", ErrCorruptBatch, len(b), BatchHeaderSize)
	}
	h := decodeHeader(b)
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, only v2 batches are supported", ErrCorruptBatch, h.Magic)
	}
	if h.Length < minBatchLength {
		return h, fmt.Errorf("%w: batch length %d < %d", ErrCorruptBatch, h.Length, minBatchLength)
	}
	return h, nil
}

// decodeHeader decodes without checking; len(b) >= BatchHeaderSize.
func decodeHeader(b []byte) BatchHeader {
	_ = b[BatchHeaderSize-1]
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
}

// putHeader writes h's fields into the header at the start of batch, with
// magic 2, the batch length taken from len(batch), and the CRC computed
// over the records already in place.
func putHeader(batch []byte, h BatchHeader) {
	_ = batch[BatchHeaderSize-1]
	be := binary.BigEndian
	be.PutUint64(batch[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(batch[offLength:], uint32(len(batch)-logOverhead))
	be.PutUint32(batch[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	batch[offMagic] = 2
	be.PutUint16(batch[offAttributes:], uint16(h.Attributes))
	be.PutUint32(batch[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(batch[offFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(batch[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(batch[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(batch[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(batch[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(batch[offNumRecords:], uint32(h.NumRecords))
	be.PutUint32(batch[offCRC:], batchCRC(batch))
}

// batchCRC computes the CRC32C Kafka stores: over attributes..end.
func batchCRC(batch []byte) uint32 { return crc32.Checksum(batch[offAttributes:], castagnoli) }

// frameBatch checks the framing of the batch at the start of b (header,
// length within b) and returns its header and size. maxBatch > 0 bounds the
// size. It is the check shared by the produce path, the follower path and
// recovery; CRC and records are checked by the callers that need them.
func frameBatch(b []byte, maxBatch int) (BatchHeader, int, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, 0, fmt.Errorf("%w: %d trailing bytes, less than a batch header", ErrCorruptBatch, len(b))
	}
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, 0, err
	}
	size := h.Size()
	if maxBatch > 0 && size > maxBatch {
		return h, 0, fmt.Errorf("%w: %d bytes > %d", ErrBatchTooLarge, size, maxBatch)
	}
	if size > len(b) {
		return h, 0, fmt.Errorf("%w: batch length %d but only %d bytes follow", ErrCorruptBatch, h.Length, len(b)-logOverhead)
	}
	if h.LastOffsetDelta < 0 {
		return h, 0, fmt.Errorf("%w: negative last offset delta %d", ErrCorruptBatch, h.LastOffsetDelta)
	}
	return h, size, nil
}

// checkCRC verifies the stored CRC of a framed batch.
func checkCRC(h BatchHeader, batch []byte) error {
	if got := batchCRC(batch); got != h.CRC {
		return fmt.Errorf("%w: crc %08x, computed %08x", ErrCorruptBatch, h.CRC, got)
	}
	return nil
}

// ValidateBatches checks a produce payload, as Kafka's LogValidator does:
// one or more v2 batches back to back (clients send exactly one per
// partition, but any number is accepted), each with magic 2, a length in
// bounds (at most maxBatchBytes when that is > 0), a correct CRC32C,
// NumRecords == LastOffsetDelta+1 > 0, not a control batch (clients may
// not write those), a sequence number if it has a producer id, a known
// codec, and records whose varint framing parses exactly to the end of
// the (decompressed) records with offset deltas 0..n-1.
//
// A compressed batch is decompressed with c into a pooled buffer and its
// records walked without copying keys, values or headers; nil c refuses
// compressed batches. A payload that does not decompress is
// ErrCorruptBatch, one that decompresses past the codec's bound
// ErrBatchTooLarge, and records that disagree with the header (count,
// offset deltas, lengths, trailing bytes) ErrInvalidRecord. Kafka rewrites
// a compressed batch whose inner offsets are not 0..n-1; minikraft, which
// never recompresses on produce, refuses it, as it does uncompressed ones.
// Only what passes here reaches the log: followers and recovery check the
// framing and CRCs of what a leader validated, and do not decompress.
//
// It returns the headers and never allocates by a length read from b.
func ValidateBatches(b []byte, maxBatchBytes int, c Codecs) ([]BatchHeader, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	hdrs := make([]BatchHeader, 0, 1)
	for pos := 0; pos < len(b); {
		h, size, err := frameBatch(b[pos:], maxBatchBytes)
		if err != nil {
			return nil, err
		}
		batch := b[pos : pos+size]
		if err := checkCRC(h, batch); err != nil {
			return nil, err
		}
		if err := validateBatchBody(h, batch, c); err != nil {
			return nil, err
		}
		hdrs = append(hdrs, h)
		pos += size
	}
	return hdrs, nil
}

// validateBatchBody is LogValidator's per-batch check for a client batch.
func validateBatchBody(h BatchHeader, batch []byte, c Codecs) error {
	if h.NumRecords <= 0 {
		return fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	}
	if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: record count %d but last offset delta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	}
	if h.IsControl() {
		return fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return fmt.Errorf("%w: producer id %d with sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	if codec := h.Compression(); codec > 4 {
		return fmt.Errorf("%w: unknown compression codec %d", ErrCorruptBatch, codec)
	}
	return withRecords(c, h, batch, func(recs []byte) error {
		return walkRecords(recs, h.NumRecords, nil)
	})
}

// walkRecords parses n uncompressed records that must fill recs exactly,
// with offset deltas 0..n-1, and calls visit (if not nil) with each record's
// offset and timestamp deltas; visit returning false stops the walk early.
func walkRecords(recs []byte, n int32, visit func(offsetDelta int32, timestampDelta int64) bool) error {
	// Each record takes at least minRecordSize bytes, so a larger claimed
	// count cannot be true; rejecting it up front bounds the loop by the input.
	if int64(n) > int64(len(recs))/minRecordSize {
		return fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalidRecord, n, len(recs))
	}
	pos := 0
	for i := int32(0); i < n; i++ {
		length, k := varint32(recs[pos:])
		if k <= 0 {
			return fmt.Errorf("%w: record %d: bad length varint", ErrInvalidRecord, i)
		}
		pos += k
		if length < minRecordSize-1 || int(length) > len(recs)-pos {
			return fmt.Errorf("%w: record %d: length %d with %d bytes left", ErrInvalidRecord, i, length, len(recs)-pos)
		}
		body := recs[pos : pos+int(length)]
		pos += int(length)
		tsDelta, offDelta, err := parseRecordBody(body)
		if err != nil {
			return fmt.Errorf("%w: record %d: %s", ErrInvalidRecord, i, err.Error())
		}
		if offDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, offDelta)
		}
		if visit != nil && !visit(offDelta, tsDelta) {
			return nil
		}
	}
	if pos != len(recs) {
		return fmt.Errorf("%w: %d bytes after the last record", ErrInvalidRecord, len(recs)-pos)
	}
	return nil
}

// recordError is a static parse complaint; the caller wraps it with the
// sentinel and the record index.
type recordError string

func (e recordError) Error() string { return string(e) }

// parseRecordBody checks one record body (after its length); see parseRecord.
func parseRecordBody(b []byte) (tsDelta int64, offDelta int32, err error) {
	r, err := parseRecord(b)
	return r.tsDelta, r.offDelta, err
}

// recordFields are the parsed fields of one record body.
type recordFields struct {
	tsDelta    int64
	offDelta   int32
	rest       int    // position of the key length: key, value and headers follow
	key, value []byte // nil when null
	keyNull    bool
	valueNull  bool // a tombstone
}

// parseRecord checks one record body (after its length) the way Kafka's
// DefaultRecord.readFrom does: a negative key or value length means null, a
// negative header count or header key length is invalid, and the fields
// must consume the body exactly.
func parseRecord(b []byte) (r recordFields, err error) {
	if len(b) < 1 {
		return r, recordError("empty body")
	}
	pos := 1 // attributes, unused in v2
	var k int
	if r.tsDelta, k = varint64(b[pos:]); k <= 0 {
		return r, recordError("bad timestamp delta")
	}
	pos += k
	if r.offDelta, k = varint32(b[pos:]); k <= 0 {
		return r, recordError("bad offset delta")
	}
	pos += k
	r.rest = pos
	if r.key, r.keyNull, pos, err = readBytes(b, pos); err != nil {
		return r, err
	}
	if r.value, r.valueNull, pos, err = readBytes(b, pos); err != nil {
		return r, err
	}
	nh, k := varint32(b[pos:])
	if k <= 0 || nh < 0 {
		return r, recordError("bad header count")
	}
	pos += k
	// Every header takes at least two bytes, which bounds the loop by the input.
	if int(nh) > (len(b)-pos)/2 {
		return r, recordError("header count exceeds record size")
	}
	for range nh {
		if pos, err = skipBytes(b, pos, false); err != nil { // key: never null
			return r, err
		}
		if pos, err = skipBytes(b, pos, true); err != nil {
			return r, err
		}
	}
	if pos != len(b) {
		return r, recordError("record size does not match its fields")
	}
	return r, nil
}

// readBytes reads a nullable varint-length-prefixed byte string at b[pos:].
func readBytes(b []byte, pos int) (v []byte, null bool, next int, err error) {
	n, k := varint32(b[pos:])
	if k <= 0 {
		return nil, false, 0, recordError("bad length varint")
	}
	pos += k
	if n < 0 {
		return nil, true, pos, nil
	}
	if int(n) > len(b)-pos {
		return nil, false, 0, recordError("length exceeds record")
	}
	return b[pos : pos+int(n)], false, pos + int(n), nil
}

// skipBytes skips a varint-length-prefixed byte string at b[pos:].
func skipBytes(b []byte, pos int, nullable bool) (int, error) {
	n, k := varint32(b[pos:])
	if k <= 0 {
		return 0, recordError("bad length varint")
	}
	pos += k
	if n < 0 {
		if !nullable {
			return 0, recordError("negative header key length")
		}
		return pos, nil
	}
	if int(n) > len(b)-pos {
		return 0, recordError("length exceeds record")
	}
	return pos + int(n), nil
}

// varint32 decodes a zig-zag varint of at most 5 bytes (Kafka's
// ByteUtils.readVarint). k is the bytes read, or <= 0 if b is too short or
// the varint too long.
func varint32(b []byte) (v int32, k int) {
	var u uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		u |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, -1
}

// varint64 decodes a zig-zag varlong of at most 10 bytes.
func varint64(b []byte) (v int64, k int) {
	var u uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, -1
}

// Header rewrites done on append. Base offset and leader epoch lie before the
// CRC'd range; attributes and max timestamp inside it.

func setBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

func setLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// setLogAppendTime marks the batch LogAppendTime with max timestamp now and
// recomputes the CRC, as Kafka's MutableRecordBatch.setMaxTimestamp does.
func setLogAppendTime(batch []byte, now int64) {
	be := binary.BigEndian
	attrs := be.Uint16(batch[offAttributes:]) | AttrLogAppendTime
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint64(batch[offMaxTimestamp:], uint64(now))
	be.PutUint32(batch[offCRC:], batchCRC(batch))
}
