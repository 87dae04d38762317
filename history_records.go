package minikraft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
)

// The history's view of a record set: each record's offset, a hash of its content, and its
// batch's producer fields, decoded from RecordBatch v2 bytes as a Produce request or a Fetch
// response carries them.

// seenRecord is one record of a record set.
type seenRecord struct {
	offset int64 // base offset + offset delta: in a Produce request, relative to the batch set
	hash   uint64
	pid    int64
	epoch  int16
	seq    int32 // base sequence + offset delta; -1 without idempotence
	txn    bool  // in a transactional batch
	// control is set for a control record (a transaction marker); then commit says which.
	control, commit bool
	ctlType         uint16 // a control record's type, from its key (0 abort, 1 commit)
}

var errShortRecord = errors.New("minikraft: history: truncated record")

// decodeBatches decodes every whole batch of data (a fetch may end with a partial one, which is
// skipped as a client skips it). For a Produce request's records, offsets count from 0 across the
// batches, as the leader assigns them from the base offset it answers.
func decodeBatches(data []byte, produce bool) ([]seenRecord, error) {
	var out []seenRecord
	next := int64(0)
	for len(data) > 0 {
		h, err := log.ParseBatchHeader(data)
		if err != nil || h.Size() > len(data) {
			break
		}
		batch := data[:h.Size()]
		data = data[h.Size():]
		base := h.BaseOffset
		if produce {
			base = next
			next += int64(h.LastOffsetDelta) + 1
		}
		body := batch[log.BatchHeaderSize:]
		if c := h.Compression(); c != 0 {
			body, err = compress.Codecs{}.Decompress(c, nil, body)
			if err != nil {
				return out, fmt.Errorf("minikraft: history: batch at %d: %w", h.BaseOffset, err)
			}
		}
		for i := int32(0); i < h.NumRecords; i++ {
			var r seenRecord
			var n int
			r, n, err = decodeRecord(body)
			if err != nil {
				return out, fmt.Errorf("minikraft: history: batch at %d: %w", h.BaseOffset, err)
			}
			body = body[n:]
			delta := r.offset
			r.offset = base + delta
			r.pid, r.epoch, r.seq = h.ProducerID, h.ProducerEpoch, -1
			if h.BaseSequence >= 0 {
				r.seq = h.BaseSequence + int32(delta)
			}
			r.txn, r.control = h.IsTransactional(), h.IsControl()
			r.commit = r.control && r.ctlType == 1
			out = append(out, r)
		}
	}
	return out, nil
}

// decodeRecord decodes one record: its offset delta in offset, the hash of its key, value and
// headers, and the type a control record's key would hold.
func decodeRecord(b []byte) (seenRecord, int, error) {
	var r seenRecord
	length, n := binary.Varint(b)
	if n <= 0 || length < 0 || int64(len(b)-n) < length {
		return r, 0, errShortRecord
	}
	total := n + int(length)
	rec := b[n:total]
	if len(rec) < 1 {
		return r, 0, errShortRecord
	}
	rec = rec[1:] // attributes
	var v int64
	var ok bool
	if _, rec, ok = varint(rec); !ok { // timestamp delta
		return r, 0, errShortRecord
	}
	if v, rec, ok = varint(rec); !ok {
		return r, 0, errShortRecord
	}
	r.offset = v
	h := fnv.New64a()
	var key []byte
	for field := 0; field < 2; field++ { // key, value
		var f []byte
		if f, rec, ok = bytesField(rec); !ok {
			return r, 0, errShortRecord
		}
		if field == 0 {
			key = f
		}
		writeField(h, f)
	}
	var nh int64
	if nh, rec, ok = varint(rec); !ok || nh < 0 {
		return r, 0, errShortRecord
	}
	for range nh {
		for range 2 {
			var f []byte
			if f, rec, ok = bytesField(rec); !ok {
				return r, 0, errShortRecord
			}
			writeField(h, f)
		}
	}
	r.hash = h.Sum64()
	if len(key) >= 4 { // a control record's key: version int16, type int16 (0 abort, 1 commit)
		r.ctlType = binary.BigEndian.Uint16(key[2:4])
	}
	return r, total, nil
}

func varint(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

// bytesField reads a varint-length byte field (-1: null, returned as nil).
func bytesField(b []byte) ([]byte, []byte, bool) {
	l, b, ok := varint(b)
	if !ok || l > int64(len(b)) {
		return nil, b, false
	}
	if l < 0 {
		return nil, b, true
	}
	return b[:l], b[l:], true
}

// writeField hashes a field with its length, so that ("ab","c") and ("a","bc") differ and a
// null differs from an empty field.
func writeField(h interface{ Write([]byte) (int, error) }, f []byte) {
	var l [8]byte
	n := int64(len(f))
	if f == nil {
		n = -1
	}
	binary.BigEndian.PutUint64(l[:], uint64(n))
	h.Write(l[:])
	h.Write(f)
}
