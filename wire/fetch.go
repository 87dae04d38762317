package wire

import (
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch response is mostly record batches that the log has just read into buffers of their own.
// kmsg's AppendTo would copy them into the encode buffer, so a 6 MB response meant 6 MB copied and
// an encode buffer regrown for it every time. appendFetchResponse instead encodes everything but
// the large record sets and notes where each one goes (a splice); the writer then sends the frame
// with one writev of the encoded pieces and the record slices.
//
// It writes exactly the bytes kmsg v1.15.1's FetchResponse.AppendTo writes, for every version up
// to fetchEncodeMaxVersion: same fields, same conditions, same tag order. fetch_test.go checks it
// byte for byte against AppendTo on random responses of every version, and fails if kmsg's
// FetchResponse types gain a field or a version, so a kmsg upgrade cannot silently drop a field.
// A version above fetchEncodeMaxVersion is encoded by kmsg.

// fetchEncodeMaxVersion is the newest FetchResponse version appendFetchResponse encodes.
const fetchEncodeMaxVersion = 18

// spliceMin is the smallest record set written from its own slice; smaller ones are copied, which
// is cheaper than another piece in the writev.
const spliceMin = 8 << 10

// splice is a record set that belongs at offset at of the encoded bytes but was left out of them:
// a byte slice (data), or a Records written by itself (rec).
type splice struct {
	at   int
	data []byte
	rec  Records
}

// size is the number of bytes the splice stands for.
func (s splice) size() int {
	if s.rec != nil {
		return s.rec.Len()
	}
	return len(s.data)
}

// appendFetchResponse appends v's body to dst, as v.AppendTo(dst) would, except that each
// RecordBatches of at least minSplice bytes is not copied: its length prefix is written, and a
// splice for its bytes, at the offset in dst where they belong, is appended to sp. v.Version must
// be at most fetchEncodeMaxVersion.
func appendFetchResponse(dst []byte, sp []splice, v *kmsg.FetchResponse, minSplice int) ([]byte, []splice) {
	return appendFetchResponseRecords(dst, sp, v, nil, minSplice)
}

// appendFetchResponseRecords is appendFetchResponse for a response whose record sets may be
// Records (rs, when not nil, wraps v): each Records becomes a splice whatever its size (the caller
// has inlined the small ones, see FetchResponse.inline).
func appendFetchResponseRecords(dst []byte, sp []splice, v *kmsg.FetchResponse, rs *FetchResponse, minSplice int) ([]byte, []splice) {
	version := v.Version
	flexible := version >= 12
	if version >= 1 {
		dst = kbin.AppendInt32(dst, v.ThrottleMillis)
	}
	if version >= 7 {
		dst = kbin.AppendInt16(dst, v.ErrorCode)
		dst = kbin.AppendInt32(dst, v.SessionID)
	}
	dst = appendArrayLen(dst, len(v.Topics), flexible)
	for i := range v.Topics {
		t := &v.Topics[i]
		if version <= 12 {
			dst = appendString(dst, t.Topic, flexible)
		}
		if version >= 13 {
			dst = kbin.AppendUuid(dst, t.TopicID)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flexible)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			if version >= 4 {
				dst = kbin.AppendInt64(dst, p.LastStableOffset)
			}
			if version >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if version >= 4 {
				a := p.AbortedTransactions
				if flexible {
					dst = kbin.AppendCompactNullableArrayLen(dst, len(a), a == nil)
				} else {
					dst = kbin.AppendNullableArrayLen(dst, len(a), a == nil)
				}
				for k := range a {
					dst = kbin.AppendInt64(dst, a[k].ProducerID)
					dst = kbin.AppendInt64(dst, a[k].FirstOffset)
					if flexible {
						dst = appendTagsWithCount(dst, &a[k].UnknownTags)
					}
				}
			}
			if version >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			if rec := rs.at(i, j); rec != nil {
				dst = appendRecordsLen(dst, rec.Len(), flexible)
				sp = append(sp, splice{at: len(dst), rec: rec})
			} else {
				dst, sp = appendRecords(dst, sp, p.RecordBatches, flexible, minSplice)
			}
			if flexible {
				dst = appendPartitionTags(dst, p)
			}
		}
		if flexible {
			dst = appendTagsWithCount(dst, &t.UnknownTags)
		}
	}
	if flexible {
		n := 0
		if len(v.Brokers) > 0 {
			n = 1
		}
		dst = kbin.AppendUvarint(dst, uint32(n+v.UnknownTags.Len()))
		if len(v.Brokers) > 0 {
			dst = appendTagged(dst, 0, func(dst []byte) []byte {
				dst = kbin.AppendCompactArrayLen(dst, len(v.Brokers))
				for i := range v.Brokers {
					b := &v.Brokers[i]
					dst = kbin.AppendInt32(dst, b.NodeID)
					dst = appendString(dst, b.Host, true)
					dst = kbin.AppendInt32(dst, b.Port)
					dst = kbin.AppendCompactNullableString(dst, b.Rack)
					dst = appendTagsWithCount(dst, &b.UnknownTags)
				}
				return dst
			})
		}
		dst = v.UnknownTags.AppendEach(dst)
	}
	return dst, sp
}

// appendRecords appends a partition's RecordBatches as nullable bytes, leaving a large one out as
// a splice.
func appendRecords(dst []byte, sp []splice, recs []byte, flexible bool, minSplice int) ([]byte, []splice) {
	switch {
	case recs == nil && flexible:
		return append(dst, 0), sp
	case recs == nil:
		return kbin.AppendInt32(dst, -1), sp
	}
	dst = appendRecordsLen(dst, len(recs), flexible)
	if len(recs) >= minSplice && len(recs) > 0 {
		return dst, append(sp, splice{at: len(dst), data: recs})
	}
	return append(dst, recs...), sp
}

// appendRecordsLen appends the length prefix of a (non-null) record set of n bytes.
func appendRecordsLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendUvarint(dst, 1+uint32(n))
	}
	return kbin.AppendInt32(dst, int32(n))
}

// appendPartitionTags appends a flexible partition's tag section: DivergingEpoch (tag 0),
// CurrentLeader (1) and SnapshotID (2) when they differ from their defaults, then unknown tags.
func appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	de, cl, si := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
	hasDE := de.Epoch != -1 || de.EndOffset != -1 || de.UnknownTags.Len() > 0
	hasCL := cl.LeaderID != -1 || cl.LeaderEpoch != -1 || cl.UnknownTags.Len() > 0
	hasSI := si.EndOffset != -1 || si.Epoch != -1 || si.UnknownTags.Len() > 0
	n := p.UnknownTags.Len()
	for _, has := range [...]bool{hasDE, hasCL, hasSI} {
		if has {
			n++
		}
	}
	dst = kbin.AppendUvarint(dst, uint32(n))
	if hasDE {
		dst = appendTagged(dst, 0, func(dst []byte) []byte {
			dst = kbin.AppendInt32(dst, de.Epoch)
			dst = kbin.AppendInt64(dst, de.EndOffset)
			return appendTagsWithCount(dst, &de.UnknownTags)
		})
	}
	if hasCL {
		dst = appendTagged(dst, 1, func(dst []byte) []byte {
			dst = kbin.AppendInt32(dst, cl.LeaderID)
			dst = kbin.AppendInt32(dst, cl.LeaderEpoch)
			return appendTagsWithCount(dst, &cl.UnknownTags)
		})
	}
	if hasSI {
		dst = appendTagged(dst, 2, func(dst []byte) []byte {
			dst = kbin.AppendInt64(dst, si.EndOffset)
			dst = kbin.AppendInt32(dst, si.Epoch)
			return appendTagsWithCount(dst, &si.UnknownTags)
		})
	}
	return p.UnknownTags.AppendEach(dst)
}

// appendTagged appends a tagged field: the tag, the length of what body appends, then that.
func appendTagged(dst []byte, tag uint32, body func([]byte) []byte) []byte {
	dst = kbin.AppendUvarint(dst, tag)
	at := len(dst)
	dst = body(dst)
	n := len(dst) - at
	var lb [5]byte
	l := kbin.AppendUvarint(lb[:0], uint32(n))
	dst = append(dst, l...) // room for the length; the body moves up by len(l)
	copy(dst[at+len(l):], dst[at:at+n])
	copy(dst[at:], l)
	return dst
}

// appendTagsWithCount appends the tag section of a struct with no tagged fields of its own.
func appendTagsWithCount(dst []byte, t *kmsg.Tags) []byte {
	if t.Len() == 0 {
		return append(dst, 0)
	}
	dst = kbin.AppendUvarint(dst, uint32(t.Len()))
	return t.AppendEach(dst)
}

func appendArrayLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

// appendString is kmsg's (non-nullable) string encoding, including its int16 length truncation.
func appendString(dst []byte, s string, flexible bool) []byte {
	if flexible {
		dst = kbin.AppendUvarint(dst, 1+uint32(len(s)))
	} else {
		dst = kbin.AppendInt16(dst, int16(len(s)))
	}
	return append(dst, s...)
}
