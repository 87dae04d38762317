package minikraft

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/log"
)

// The checks of History on record sets built by hand: each kind of anomaly is found, and
// nothing is found in a well-formed history.

// batch encodes values as one batch at base, with the producer fields and attributes given
// (pid < 0: not idempotent).
func batch(base int64, pid int64, seq int32, attrs int16, values ...string) []byte {
	kvs := make([]log.KeyValue, len(values))
	for i, v := range values {
		kvs[i] = log.KeyValue{Value: []byte(v)}
	}
	b := log.EncodeBatch(kvs, 1)
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(base))
	be.PutUint16(b[21:], uint16(attrs))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], 0)
	be.PutUint32(b[53:], uint32(seq))
	return b
}

// marker encodes a transaction marker of pid at offset.
func markerBatch(offset, pid int64, commit bool) []byte {
	key := []byte{0, 0, 0, 0}
	if commit {
		key[3] = 1
	}
	b := log.EncodeBatch([]log.KeyValue{{Key: key, Value: []byte{0, 0, 0, 0, 0, 0}}}, 1)
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(offset))
	be.PutUint16(b[21:], 0x30) // transactional, control
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint32(b[53:], 0xffffffff)
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func resp(hw int64, aborted ...int64) *kmsg.FetchResponseTopicPartition {
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark, rp.LastStableOffset = hw, hw
	for i := 0; i+1 < len(aborted); i += 2 {
		a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		a.ProducerID, a.FirstOffset = aborted[i], aborted[i+1]
		rp.AbortedTransactions = append(rp.AbortedTransactions, a)
	}
	return &rp
}

// sendAck records values as sent and acknowledged from base with acks.
func sendAck(h *History, k partKey, base int64, acks int16, values ...string) {
	recs, err := decodeBatches(batch(0, -1, -1, 0, values...), true)
	if err != nil {
		panic(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.part(k)
	for _, r := range recs {
		p.sent[r.hash] = struct{}{}
		h.acked(k, p, base+r.offset, ack{r.hash, acks, 0})
	}
}

func kinds(as []Anomaly) map[AnomalyKind][]int64 {
	out := map[AnomalyKind][]int64{}
	for _, a := range as {
		out[a.Kind] = append(out[a.Kind], a.Offset)
	}
	return out
}

func TestHistoryCheckKinds(t *testing.T) {
	k := partKey{topic: "t", partition: 0}
	for _, tc := range []struct {
		name string
		run  func(h *History)
		want map[AnomalyKind][]int64
	}{
		{"clean", func(h *History) {
			sendAck(h, k, 0, -1, "a", "b", "c")
			h.fetched(k, false, resp(3), batch(0, -1, -1, 0, "a", "b", "c"), false, "x")
			h.fetched(k, false, resp(3), batch(1, -1, -1, 0, "b", "c"), false, "y")
		}, map[AnomalyKind][]int64{}},
		{"lost acks=all", func(h *History) {
			sendAck(h, k, 0, -1, "a", "b")
			sendAck(h, k, 1, 1, "z")
			h.fetched(k, false, resp(2), batch(0, -1, -1, 0, "a", "z"), false, "x")
		}, map[AnomalyKind][]int64{LostWrite: {1, 1}}},
		{"lost acks=1 is allowed", func(h *History) {
			sendAck(h, k, 0, 1, "a")
			sendAck(h, k, 0, -1, "z")
			h.fetched(k, false, resp(1), batch(0, -1, -1, 0, "z"), false, "x")
		}, map[AnomalyKind][]int64{}},
		{"divergent and phantom", func(h *History) {
			sendAck(h, k, 0, -1, "a")
			h.fetched(k, false, resp(1), batch(0, -1, -1, 0, "a"), false, "x")
			h.fetched(k, false, resp(1), batch(0, -1, -1, 0, "q"), false, "y")
		}, map[AnomalyKind][]int64{DivergentRead: {0}}},
		{"phantom", func(h *History) {
			h.fetched(k, false, resp(1), batch(0, -1, -1, 0, "q"), false, "x")
		}, map[AnomalyKind][]int64{PhantomRead: {0}}},
		{"past the high watermark", func(h *History) {
			sendAck(h, k, 0, 1, "a", "b")
			h.fetched(k, false, resp(1), batch(0, -1, -1, 0, "a", "b"), false, "x")
		}, map[AnomalyKind][]int64{ReadPastHighWatermark: {1}}},
		{"order and gaps", func(h *History) {
			sendAck(h, k, 0, 1, "a", "b", "c")
			h.fetched(k, false, resp(9), cat(batch(5, -1, -1, 0, "a"), batch(3, -1, -1, 0, "b"), batch(7, -1, -1, 0, "c")), false, "x")
		}, map[AnomalyKind][]int64{OutOfOrder: {3}, Gap: {6}}},
		{"compacted gaps are allowed", func(h *History) {
			sendAck(h, k, 0, 1, "a", "b")
			h.fetched(k, true, resp(9), cat(batch(5, -1, -1, 0, "a"), batch(7, -1, -1, 0, "b")), false, "x")
		}, map[AnomalyKind][]int64{}},
		{"idempotent duplicate", func(h *History) {
			sendAck(h, k, 0, 1, "a")
			h.fetched(k, false, resp(2), cat(batch(0, 7, 0, 0, "a"), batch(1, 7, 0, 0, "a")), false, "x")
		}, map[AnomalyKind][]int64{Duplicate: {1}}},
		{"aborted read", func(h *History) {
			sendAck(h, k, 0, 1, "a", "b")
			// Producer 7's record at 0 is aborted by the marker at 2; producer 8's at 1
			// is aborted too but listed, so the client drops it.
			h.fetched(k, false, resp(3, 8, 1), cat(batch(0, 7, 0, 0x10, "a"), batch(1, 8, 0, 0x10, "b"), markerBatch(2, 7, false)), true, "x")
			h.fetched(k, false, resp(4), markerBatch(3, 8, false), true, "x")
		}, map[AnomalyKind][]int64{AbortedRead: {0}}},
		{"committed read", func(h *History) {
			sendAck(h, k, 0, 1, "a")
			h.fetched(k, false, resp(2), cat(batch(0, 7, 0, 0x10, "a"), markerBatch(1, 7, true)), true, "x")
		}, map[AnomalyKind][]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(nil)
			tc.run(h)
			got := kinds(h.Check())
			if len(got) != len(tc.want) {
				t.Fatalf("found %v, want %v", got, tc.want)
			}
			for kind, offs := range tc.want {
				if len(got[kind]) != len(offs) {
					t.Fatalf("found %v, want %v", got, tc.want)
				}
				for i := range offs {
					if got[kind][i] != offs[i] {
						t.Fatalf("found %v, want %v", got, tc.want)
					}
				}
			}
		})
	}
}
