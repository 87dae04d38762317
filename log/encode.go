package log

import "encoding/binary"

// The broker writes batches of its own (group commits into
// __consumer_offsets) and reads them back when it becomes a coordinator.
// EncodeBatch and EachRecord do that with the same header layout, CRC and
// record parser as the rest of the package.

// KeyValue is one record of a batch the broker writes itself; a nil Value
// is a tombstone.
type KeyValue struct{ Key, Value []byte }

// EncodeBatch builds an uncompressed, non-idempotent RecordBatch v2 of recs
// (at least one) at timestamp ts (milliseconds), with offsets from 0: the
// log assigns the real ones on append.
func EncodeBatch(recs []KeyValue, ts int64) []byte {
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs)*64)
	for i, r := range recs {
		b = appendRecord(b, int32(i), r.Key, r.Value)
	}
	putHeader(b, BatchHeader{
		PartitionLeaderEpoch: -1,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		NumRecords:           int32(len(recs)),
	})
	return b
}

// appendRecord appends one record with no headers and timestamp delta 0.
func appendRecord(dst []byte, offDelta int32, key, value []byte) []byte {
	size := 1 + 1 + varintLen(int64(offDelta)) + nullableLen(key) + nullableLen(value) + 1
	dst = binary.AppendVarint(dst, int64(size))
	dst = append(dst, 0, 0) // attributes, timestamp delta
	dst = binary.AppendVarint(dst, int64(offDelta))
	dst = appendNullable(dst, key)
	dst = appendNullable(dst, value)
	return append(dst, 0) // header count
}

func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

func nullableLen(v []byte) int {
	if v == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(v))) + len(v)
}

func appendNullable(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(v))), v...)
}

// EachRecord calls fn with the offset, key and value (nil when null) of
// every record of the uncompressed, non-control batches in data, which
// must be whole CRC-valid batches (a read result). Compressed batches are
// skipped: the broker never writes them to its internal topics and no
// client may produce there. Malformed data is ErrCorruptBatch; an error
// from fn stops the walk and is returned.
func EachRecord(data []byte, fn func(offset int64, key, value []byte) error) error {
	return EachRecordTxn(data, func(_ BatchHeader, offset int64, key, value []byte) error {
		return fn(offset, key, value)
	}, nil)
}

// EachRecordTxn is EachRecord for readers that follow transactions (the
// group coordinator replaying transactional offset commits): fn also gets
// the record's batch header (producer id and epoch, IsTransactional), and
// onMarker (if not nil) each transaction marker with its batch header.
func EachRecordTxn(data []byte, fn func(h BatchHeader, offset int64, key, value []byte) error, onMarker func(h BatchHeader, m Marker) error) error {
	for len(data) > 0 {
		h, size, err := frameBatch(data, 0)
		if err != nil {
			return err
		}
		batch := data[:size]
		data = data[size:]
		if err := checkCRC(h, batch); err != nil {
			return err
		}
		if h.IsControl() {
			if onMarker == nil {
				continue
			}
			m, ok, err := parseMarker(nil, h, batch)
			if err != nil {
				return err
			}
			if ok {
				if err := onMarker(h, m); err != nil {
					return err
				}
			}
			continue
		}
		if h.Compression() != 0 {
			continue
		}
		var fnErr error
		err = forEachRecord(batch[BatchHeaderSize:], h.NumRecords, func(_ []byte, r recordFields) bool {
			fnErr = fn(h, h.BaseOffset+int64(r.offDelta), r.key, r.value)
			return fnErr == nil
		})
		if err != nil {
			return err
		}
		if fnErr != nil {
			return fnErr
		}
	}
	return nil
}

// SetProducer rewrites a batch's producer id, epoch and base sequence (an
// idempotent producer's fields) and recomputes its CRC.
func SetProducer(batch []byte, id int64, epoch int16, baseSequence int32) {
	h := decodeHeader(batch)
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = id, epoch, baseSequence
	putHeader(batch, h)
}
