package broker

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The broker writes record batches of its own (group commits into __consumer_offsets) and reads
// them back when it becomes a coordinator. These helpers build and parse uncompressed RecordBatch
// v2, the only form the broker itself writes.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kv is one record's key and value; a nil Value is a tombstone.
type kv struct{ Key, Value []byte }

// encodeBatch builds an uncompressed, non-idempotent RecordBatch v2 of recs at timestamp ts
// (milliseconds). Offsets start at 0; the log assigns the real ones on append.
func encodeBatch(recs []kv, ts int64) []byte {
	b := make([]byte, 61, 61+len(recs)*64)
	for i, r := range recs {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = appendVarBytes(body, r.Key)
		body = appendVarBytes(body, r.Value)
		body = binary.AppendVarint(body, 0) // headers
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	binary.BigEndian.PutUint64(b[0:], 0)                    // base offset
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))    // batch length
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)          // partition leader epoch (-1)
	b[16] = 2                                               // magic
	binary.BigEndian.PutUint16(b[21:], 0)                   // attributes
	binary.BigEndian.PutUint32(b[23:], uint32(len(recs)-1)) // last offset delta
	binary.BigEndian.PutUint64(b[27:], uint64(ts))          // first timestamp
	binary.BigEndian.PutUint64(b[35:], uint64(ts))          // max timestamp
	binary.BigEndian.PutUint64(b[43:], 0xffffffffffffffff)  // producer id (-1)
	binary.BigEndian.PutUint16(b[51:], 0xffff)              // producer epoch (-1)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)          // base sequence (-1)
	binary.BigEndian.PutUint32(b[57:], uint32(len(recs)))   // record count
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

var errBadRecords = errors.New("broker: malformed records in an internal batch")

// decodeBatches calls fn for each record of the uncompressed, non-control batches in data, with
// the record's offset. Compressed batches are skipped: the broker never writes them to its
// internal topics, and no client may produce there.
func decodeBatches(data []byte, fn func(offset int64, r kv) error) error {
	for len(data) >= 61 {
		size := 12 + int(int32(binary.BigEndian.Uint32(data[8:])))
		if size < 61 || size > len(data) {
			return errBadRecords
		}
		batch := data[:size]
		data = data[size:]
		attrs := binary.BigEndian.Uint16(batch[21:])
		if attrs&0x7 != 0 || attrs&0x20 != 0 { // compressed, or a control batch
			continue
		}
		base := int64(binary.BigEndian.Uint64(batch[0:]))
		n := int(int32(binary.BigEndian.Uint32(batch[57:])))
		rest := batch[61:]
		for i := 0; i < n; i++ {
			l, k := binary.Varint(rest)
			if k <= 0 || l < 0 || int(l) > len(rest)-k {
				return errBadRecords
			}
			rec := rest[k : k+int(l)]
			rest = rest[k+int(l):]
			r, delta, err := decodeRecord(rec)
			if err != nil {
				return err
			}
			if err := fn(base+delta, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func decodeRecord(rec []byte) (kv, int64, error) {
	if len(rec) < 1 {
		return kv{}, 0, errBadRecords
	}
	rec = rec[1:] // attributes
	var vals [2]int64
	for i := range vals {
		v, k := binary.Varint(rec)
		if k <= 0 {
			return kv{}, 0, errBadRecords
		}
		vals[i] = v
		rec = rec[k:]
	}
	var out kv
	for _, dst := range []*[]byte{&out.Key, &out.Value} {
		l, k := binary.Varint(rec)
		if k <= 0 || int(l) > len(rec)-k {
			return kv{}, 0, errBadRecords
		}
		rec = rec[k:]
		if l >= 0 {
			*dst = rec[:l:l]
			rec = rec[l:]
		}
	}
	return out, vals[1], nil
}
