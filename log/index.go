package log

import (
	"encoding/binary"
	"fmt"
)

// Sizes of the on-disk index entries (Kafka's OffsetIndex and TimeIndex).
const (
	offsetEntrySize = 8  // int32 relative offset, int32 position
	timeEntrySize   = 12 // int64 timestamp, int32 relative offset
)

// offsetEntry maps the last offset of a batch (relative to the segment base)
// to the batch's file position. Kafka indexes a batch by its last offset, so
// an entry with rel >= target bounds the batch holding target from above.
type offsetEntry struct {
	rel int32
	pos int32
}

// timeEntry records the segment's largest timestamp so far and the (relative)
// last offset of the batch that carried it. Entries are appended only when
// the timestamp grows.
type timeEntry struct {
	ts  int64
	rel int32
}

// offsetIndex is (a run of) a segment's sparse offset index; lookups go
// through a view of the whole (see spill.go).
type offsetIndex []offsetEntry

func (x offsetIndex) encode(dst []byte) []byte {
	for _, e := range x {
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.rel))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.pos))
	}
	return dst
}

// decodeOffsetIndex parses and sanity-checks an index file's contents
// against the segment's log size: whole entries, offsets and positions
// strictly increasing, positions inside the log.
func decodeOffsetIndex(b []byte, logSize int64) (offsetIndex, error) {
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("index size %d is not a multiple of %d", len(b), offsetEntrySize)
	}
	x := make(offsetIndex, len(b)/offsetEntrySize)
	for i := range x {
		e := offsetEntry{
			rel: int32(binary.BigEndian.Uint32(b[i*offsetEntrySize:])),
			pos: int32(binary.BigEndian.Uint32(b[i*offsetEntrySize+4:])),
		}
		if e.rel < 0 || e.pos < 0 || int64(e.pos) >= logSize {
			return nil, fmt.Errorf("index entry %d (%d, %d) out of range", i, e.rel, e.pos)
		}
		if i > 0 && (e.rel <= x[i-1].rel || e.pos <= x[i-1].pos) {
			return nil, fmt.Errorf("index entry %d (%d, %d) not increasing", i, e.rel, e.pos)
		}
		x[i] = e
	}
	return x, nil
}

// timeIndex is a segment's sparse time index.
type timeIndex []timeEntry

func (x timeIndex) encode(dst []byte) []byte {
	for _, e := range x {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.rel))
	}
	return dst
}

// decodeTimeIndex parses and sanity-checks a time index file: whole entries,
// timestamps strictly increasing, offsets non-decreasing and non-negative.
func decodeTimeIndex(b []byte) (timeIndex, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("time index size %d is not a multiple of %d", len(b), timeEntrySize)
	}
	x := make(timeIndex, len(b)/timeEntrySize)
	for i := range x {
		e := timeEntry{
			ts:  int64(binary.BigEndian.Uint64(b[i*timeEntrySize:])),
			rel: int32(binary.BigEndian.Uint32(b[i*timeEntrySize+8:])),
		}
		if e.rel < 0 {
			return nil, fmt.Errorf("time index entry %d has offset %d", i, e.rel)
		}
		if i > 0 && (e.ts <= x[i-1].ts || e.rel < x[i-1].rel) {
			return nil, fmt.Errorf("time index entry %d (%d, %d) not increasing", i, e.ts, e.rel)
		}
		x[i] = e
	}
	return x, nil
}

// indexer decides, batch by batch, when to add sparse index entries. The
// same rule runs on append and on rebuild, so a rebuilt index equals the
// one written live (Kafka's LogSegment.append/recover rule: add an entry
// for a batch when more than IndexIntervalBytes were written since the
// last one, counting from the segment start, so the first batch is never
// indexed).
type indexer struct {
	sinceLast int64 // bytes appended since the last offset-index entry
	maxTs     int64 // largest batch max timestamp in the segment, -1 if none
	maxTsRel  int32 // relative last offset of the batch carrying maxTs
}

// add accounts for a batch at pos and returns the entries to append, if any.
func (ix *indexer) add(h BatchHeader, base, pos int64, interval int, lastTime int64) (oe offsetEntry, te timeEntry, addOff, addTime bool) {
	rel := int32(h.LastOffset() - base)
	if h.MaxTimestamp > ix.maxTs {
		ix.maxTs, ix.maxTsRel = h.MaxTimestamp, rel
	}
	if ix.sinceLast > int64(interval) {
		oe, addOff = offsetEntry{rel: rel, pos: int32(pos)}, true
		if ix.maxTs > lastTime {
			te, addTime = timeEntry{ts: ix.maxTs, rel: ix.maxTsRel}, true
		}
		ix.sinceLast = 0
	}
	ix.sinceLast += int64(h.Size())
	return oe, te, addOff, addTime
}
