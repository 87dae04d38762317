package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
)

// Transactional offset commits in __consumer_offsets: TxnOffsetCommit's records are written as a
// transactional batch of the producer, as Kafka's GroupMetadataManager.storeOffsets writes them,
// so that the partition's producer state knows the transaction (its last stable offset, the
// markers that end it, a fenced epoch), and replaying the partition tells them apart from regular
// commits and finds the markers that end them.

// RecordBatch v2 header positions and attribute bits used here (Kafka's DefaultRecordBatch).
const (
	batchCRCPos         = 17
	batchAttributesPos  = 21
	attrTransactionalV2 = 0x10
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// appendTxn appends batch, with txn's producer id and epoch and the transactional attribute, as
// the leader. The partition checks a producer's batches as it checks an idempotent producer's
// (epoch, then sequence): an older epoch is INVALID_PRODUCER_EPOCH, which the client of the
// TxnOffsetCommit hears, as from Kafka. Kafka's coordinator appends skip the sequence check
// (AppendOrigin.Coordinator); the partition has no such origin, so the batch takes the sequence
// that follows the producer's last one on this partition (0 for a producer new here or with a new
// epoch), and txnMu makes reading that and appending one step.
func (s *offsetsStore) appendTxn(p *partition.Partition, batch []byte, txn *group.Producer) (partition.AppendInfo, error) {
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	seq, err := nextTxnSequence(p, txn)
	if err != nil {
		return partition.AppendInfo{}, err
	}
	log.SetProducer(batch, txn.ID, txn.Epoch, seq)
	orAttributes(batch, attrTransactionalV2)
	hdrs, err := log.ValidateBatches(batch, len(batch), nil)
	if err != nil {
		return partition.AppendInfo{}, fmt.Errorf("broker: encoding transactional group records: %w", err)
	}
	info, err := p.AppendAsLeader(batch, hdrs, -1)
	if err == nil && info.Duplicate {
		// Only if the partition's producer state disagrees with the sequence chosen above: the
		// records were not written, so the commit must not be acknowledged.
		return partition.AppendInfo{}, fmt.Errorf("%w: transactional offset commit of producer %d taken for a duplicate (sequence %d)",
			kerr.UnknownServerError, txn.ID, seq)
	}
	return info, err
}

// nextTxnSequence is the sequence that follows txn's last batch on p: 0 for a producer p does not
// know or knows with another epoch.
func nextTxnSequence(p *partition.Partition, txn *group.Producer) (int32, error) {
	states, err := p.ActiveProducers()
	if err != nil {
		return 0, err
	}
	for _, st := range states {
		if st.ProducerID == txn.ID && st.ProducerEpoch == txn.Epoch && st.LastSequence >= 0 && st.LastSequence < math.MaxInt32 {
			return st.LastSequence + 1, nil
		}
	}
	return 0, nil
}

// orAttributes sets attribute bits of a v2 batch and recomputes its CRC (which covers the
// attributes onwards).
func orAttributes(batch []byte, bits uint16) {
	attrs := binary.BigEndian.Uint16(batch[batchAttributesPos:])
	binary.BigEndian.PutUint16(batch[batchAttributesPos:], attrs|bits)
	binary.BigEndian.PutUint32(batch[batchCRCPos:], crc32.Checksum(batch[batchAttributesPos:], castagnoliTable))
}

// replayBatches calls fn with each record at or after offset `from` in data (whole batches, as a
// read returns them; a partial batch at the end is left for the next read) and returns the
// offset after the last whole batch. A transaction marker comes as a Control record with the
// control record's key.
func replayBatches(data []byte, from int64, fn func(group.Record) error) (next int64, err error) {
	next = from
	for len(data) > 0 {
		h, err := log.ParseBatchHeader(data)
		if err != nil {
			return next, err
		}
		if h.Size() > len(data) {
			break
		}
		batch := data[:h.Size()]
		data = data[h.Size():]
		next = max(next, h.LastOffset()+1)
		if h.LastOffset() < from {
			continue
		}
		txn := h.IsTransactional()
		if h.IsControl() {
			key, err := controlRecordKey(batch)
			if err != nil {
				return next, err
			}
			if key == nil { // a control batch without records carries no marker
				continue
			}
			if err := fn(group.Record{Key: key, Offset: h.BaseOffset, ProducerID: h.ProducerID, Transactional: txn, Control: true}); err != nil {
				return next, err
			}
			continue
		}
		err = log.EachRecord(batch, func(o int64, key, value []byte) error {
			if o < from {
				return nil
			}
			return fn(group.Record{Key: key, Value: value, Offset: o, ProducerID: h.ProducerID, Transactional: txn})
		})
		if err != nil {
			return next, err
		}
	}
	return next, nil
}

var errBadControlBatch = errors.New("broker: malformed control batch")

// controlRecordKey returns the key of a control batch's first record (Kafka reads only that
// one), nil if it has none, after checking the batch's CRC.
func controlRecordKey(batch []byte) ([]byte, error) {
	if binary.BigEndian.Uint32(batch[batchCRCPos:]) != crc32.Checksum(batch[batchAttributesPos:], castagnoliTable) {
		return nil, fmt.Errorf("%w: %w: CRC mismatch", log.ErrCorruptBatch, errBadControlBatch)
	}
	b := batch[log.BatchHeaderSize:]
	if len(b) == 0 {
		return nil, nil
	}
	// A record: length, attributes (int8), timestamp delta, offset delta, key length, key...
	n, k := binary.Varint(b)
	if k <= 0 || n < 0 || int64(len(b)-k) < n {
		return nil, fmt.Errorf("%w: %w: record length", log.ErrCorruptBatch, errBadControlBatch)
	}
	rec := b[k : k+int(n)]
	if len(rec) < 1 {
		return nil, fmt.Errorf("%w: %w: empty record", log.ErrCorruptBatch, errBadControlBatch)
	}
	pos := 1      // attributes
	for range 2 { // timestamp delta, offset delta
		if _, k := binary.Varint(rec[pos:]); k > 0 {
			pos += k
		} else {
			return nil, fmt.Errorf("%w: %w: record header", log.ErrCorruptBatch, errBadControlBatch)
		}
	}
	klen, k := binary.Varint(rec[pos:])
	if k <= 0 || klen < 0 || int64(len(rec)-pos-k) < klen {
		return nil, fmt.Errorf("%w: %w: key", log.ErrCorruptBatch, errBadControlBatch)
	}
	pos += k
	return rec[pos : pos+int(klen)], nil
}
