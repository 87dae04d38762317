package minikraft

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The history's checks: what Kafka promises about the records it acknowledges and delivers.
//
// Kafka promises less than "every acknowledged record is readable": a record acknowledged with
// acks=1 is only on the leader, and is lost if the leader fails before a follower fetches it (the
// next records take its offset); only once it is below the high watermark (committed) is it kept.
// So the checks are:
//
//   - lost-write: a record acknowledged with acks=all was not where it was acknowledged: a
//     consumer read another record at its offset, or another record was acknowledged there
//     since. Records acknowledged with acks=1 are not checked, except through what consumers
//     read of them (a consumer only reads committed records, so what it read is promised);
//   - divergent-read: two reads of one offset returned different records: a committed record
//     changed;
//   - phantom-read: a consumer got a record that no producer sent to that partition (acks=0 and
//     failed or timed-out produces count as sent: their records may well be written);
//   - read-past-high-watermark: a consumer got a record at or above the high watermark the same
//     response gave (read_uncommitted), or at or above the last stable offset (read_committed);
//   - out-of-order: offsets not increasing within one partition of one response;
//   - gap: offsets not consecutive within one partition of one response, on a topic that is not
//     compacted (transaction markers take offsets, so transactions leave no gap);
//   - duplicate: an idempotent producer's record (producer id, epoch and sequence) read at two
//     offsets;
//   - aborted-read: a read_committed consumer got a transactional record whose transaction was
//     aborted (its producer's next marker after it is an ABORT) without the response listing
//     that producer's aborted transaction, so the client cannot drop it;
//   - corrupt-read: a consumer got record bytes the history cannot decode.
//
// A record acknowledged but never read is not checked: the history knows only what consumers
// read. Stats says how much was read. The checks assume no data was lost by the test itself:
// after UncleanLeaderLoss on a partition whose ISR was only its leader, Kafka too loses
// acknowledged records, and Check reports them.

// AnomalyKind names a broken promise.
type AnomalyKind string

// The kinds of anomaly Check reports.
const (
	LostWrite             AnomalyKind = "lost-write"
	DivergentRead         AnomalyKind = "divergent-read"
	PhantomRead           AnomalyKind = "phantom-read"
	ReadPastHighWatermark AnomalyKind = "read-past-high-watermark"
	OutOfOrder            AnomalyKind = "out-of-order"
	Gap                   AnomalyKind = "gap"
	Duplicate             AnomalyKind = "duplicate"
	AbortedRead           AnomalyKind = "aborted-read"
	CorruptRead           AnomalyKind = "corrupt-read"
)

// Anomaly is one broken promise, at one offset of one partition.
type Anomaly struct {
	Kind      AnomalyKind
	Topic     string
	Partition int32
	Offset    int64
	Detail    string
}

func (a Anomaly) String() string {
	return fmt.Sprintf("%s at %s-%d offset %d: %s", a.Kind, a.Topic, a.Partition, a.Offset, a.Detail)
}

// Error makes an Anomaly an error, for t.Error(a) and errors.Join.
func (a Anomaly) Error() string { return a.String() }

// Check returns every broken promise in the history so far, ordered by topic, partition and
// offset; none for a cluster that kept Kafka's promises. It may be called at any time, and
// again later. A produce still waiting for its answer is not acknowledged yet: call it once the
// producers are flushed and the consumers have read what they will.
func (h *History) Check() []Anomaly {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.found)
	for k, p := range h.parts {
		at := func(kind AnomalyKind, offset int64, detail string) {
			out = append(out, Anomaly{Kind: kind, Topic: k.topic, Partition: k.partition, Offset: offset, Detail: detail})
		}
		for off, a := range p.acked {
			if rd, ok := p.read[off]; ok && a.acks == -1 && rd.hash != a.hash {
				at(LostWrite, off, fmt.Sprintf("acknowledged with acks=all by node %d, but %s returned another record there", a.node, rd.from))
			}
		}
		for off, rd := range p.read {
			if _, ok := p.sent[rd.hash]; !ok && !rd.control {
				at(PhantomRead, off, rd.from+" returned a record no producer sent")
			}
		}
		for _, t := range p.txnReads {
			ms := p.markers[t.pid]
			i, _ := slices.BinarySearchFunc(ms, t.offset, func(m marker, off int64) int { return cmp.Compare(m.offset, off) })
			if i < len(ms) && !ms[i].commit {
				at(AbortedRead, t.offset, fmt.Sprintf("%s returned producer %d's aborted record to a read_committed consumer without listing the aborted transaction", t.from, t.pid))
			}
		}
	}
	slices.SortFunc(out, func(a, b Anomaly) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition),
			cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// Err is Check's anomalies joined into one error, nil when there are none.
func (h *History) Err() error {
	var errs []error
	for _, a := range h.Check() {
		errs = append(errs, a)
	}
	return errors.Join(errs...)
}

// fetched records the records of one partition of a consumer's Fetch response and checks what
// one response can show: order, gaps, the high watermark, divergence from earlier reads,
// duplicates.
func (h *History) fetched(k partKey, compacted bool, rp *kmsg.FetchResponseTopicPartition, data []byte, readCommitted bool, from string) {
	recs, decodeErr := decodeBatches(data, false)
	h.mu.Lock()
	defer h.mu.Unlock()
	at := func(kind AnomalyKind, offset int64, detail string) {
		h.found = append(h.found, Anomaly{Kind: kind, Topic: k.topic, Partition: k.partition, Offset: offset, Detail: detail})
	}
	if decodeErr != nil {
		h.stats.Errors++
		at(CorruptRead, rp.HighWatermark, from+": "+decodeErr.Error())
	}
	p := h.part(k)
	p.compacted = compacted
	prev := int64(-1)
	for _, rec := range recs {
		h.stats.Fetched++
		off := rec.offset
		switch {
		case prev >= 0 && off <= prev:
			at(OutOfOrder, off, fmt.Sprintf("%s returned offset %d after %d in one response", from, off, prev))
		case prev >= 0 && off != prev+1 && !compacted:
			at(Gap, prev+1, fmt.Sprintf("%s returned offset %d after %d in one response; the topic is not compacted", from, off, prev))
		}
		prev = max(prev, off)
		if off >= rp.HighWatermark {
			at(ReadPastHighWatermark, off, fmt.Sprintf("%s returned it with high watermark %d", from, rp.HighWatermark))
		} else if readCommitted && rp.LastStableOffset >= 0 && off >= rp.LastStableOffset {
			at(ReadPastHighWatermark, off, fmt.Sprintf("%s returned it to a read_committed consumer with last stable offset %d", from, rp.LastStableOffset))
		}
		if prior, ok := p.read[off]; ok {
			if prior.hash != rec.hash {
				at(DivergentRead, off, fmt.Sprintf("%s returned another record than %s had", from, prior.from))
			}
		} else {
			p.read[off] = readRec{hash: rec.hash, from: from, control: rec.control}
		}
		if rec.control {
			ms := p.markers[rec.pid]
			i, found := slices.BinarySearchFunc(ms, off, func(m marker, o int64) int { return cmp.Compare(m.offset, o) })
			if !found {
				p.markers[rec.pid] = slices.Insert(ms, i, marker{offset: off, commit: rec.commit})
			}
			continue
		}
		if rec.pid >= 0 && rec.seq >= 0 {
			sk := seqKey{rec.pid, rec.epoch, rec.seq}
			if o, ok := p.bySeq[sk]; ok && o != off {
				at(Duplicate, off, fmt.Sprintf("%s returned producer %d epoch %d sequence %d here and at offset %d", from, rec.pid, rec.epoch, rec.seq, o))
			} else if !ok {
				p.bySeq[sk] = off
			}
		}
		if readCommitted && rec.txn && !abortedListed(rp.AbortedTransactions, rec.pid, off) {
			p.txnReads = append(p.txnReads, txnRead{offset: off, pid: rec.pid, from: from})
		}
	}
}

// abortedListed reports whether a response's aborted transactions cover pid's record at off.
func abortedListed(list []kmsg.FetchResponseTopicPartitionAbortedTransaction, pid, off int64) bool {
	for _, a := range list {
		if a.ProducerID == pid && a.FirstOffset <= off {
			return true
		}
	}
	return false
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
