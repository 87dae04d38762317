package txn

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrBadRecord is wrapped by the errors of records that cannot be decoded.
var ErrBadRecord = errors.New("txn: undecodable __transaction_state record")

// Kafka writes key v0 and value v0, or value v1 once transaction.version is 1 or more
// (TransactionVersion.transactionLogValueVersion: v1 is flexible, with the tagged fields
// PreviousProducerId, NextProducerId and ClientTransactionVersion that version 2 needs across a
// coordinator failover).
const keyVersion = 0

func recordKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

// record encodes a transition exactly as Kafka's TransactionLog.valueToBytes: an Empty state
// carries no partitions; value v1 (Config.TransactionVersion 1 or more) adds the tagged fields.
// Key and value share one buffer sized for them, and each topic's partitions one slice: a
// transaction writes three records, and growing each from nil was most of its allocations.
func record(id string, m *meta, valueVersion int16) Record {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	if valueVersion >= 1 {
		v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion = m.lastProducerID, m.nextProducerID, m.tv
	}
	v.ProducerID = m.producerID
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = m.timeoutMs
	v.State = kmsg.TransactionState(m.state)
	v.LastUpdateTimestamp = m.lastUpdateMs
	v.StartTimestamp = m.startMs
	// Fixed fields and tags (at most about 60 bytes in v1), the key's 4 and the id, then each
	// topic's name and array header and 4 bytes a partition.
	size := 80 + 2*len(id)
	if m.state != stateEmpty {
		parts := sortedParts(m.parts)
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for i := 0; i < len(parts); {
			j := i + 1
			for j < len(parts) && parts[j].Topic == parts[i].Topic {
				j++
			}
			t := kmsg.TxnMetadataValueTopic{Topic: parts[i].Topic, Partitions: make([]int32, 0, j-i)}
			for _, tp := range parts[i:j] {
				t.Partitions = append(t.Partitions, tp.Partition)
			}
			v.Topics = append(v.Topics, t)
			size += len(t.Topic) + 10 + 4*(j-i)
			i = j
		}
	}
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	key := k.AppendTo(make([]byte, 0, size))
	value := v.AppendTo(key[len(key):]) // after the key, in the same buffer
	return Record{Key: key[:len(key):len(key)], Value: value}
}

func tombstone(id string) Record { return Record{Key: recordKey(id)} }

// loader rebuilds transactional ids from __transaction_state records: the last record of a key
// wins, a tombstone deletes (Kafka's loadTransactionMetadata).
type loader struct {
	txns map[string]meta
}

func newLoader() *loader { return &loader{txns: map[string]meta{}} }

// add applies one record. Keys of an unknown version are skipped, as Kafka does.
func (l *loader) add(r Record) error {
	if len(r.Key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(r.Key))
	}
	if version := int16(r.Key[0])<<8 | int16(r.Key[1]); version != keyVersion {
		return nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("%w: key: %v", ErrBadRecord, err)
	}
	if r.Value == nil {
		delete(l.txns, k.TransactionalID)
		return nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("%w: value of %q: %v", ErrBadRecord, k.TransactionalID, err)
	}
	s := state(v.State)
	if s < stateEmpty || s > statePrepareEpochFence {
		return fmt.Errorf("%w: state %d of %q", ErrBadRecord, v.State, k.TransactionalID)
	}
	m := meta{
		producerID: v.ProducerID, lastProducerID: noProducerID, nextProducerID: noProducerID,
		epoch: v.ProducerEpoch, lastEpoch: noEpoch, timeoutMs: v.TimeoutMillis, state: s, parts: map[TopicPartition]struct{}{},
		startMs: v.StartTimestamp, lastUpdateMs: v.LastUpdateTimestamp,
	}
	if v.Version >= 1 { // defaults -1, -1, 0 when absent
		m.lastProducerID, m.nextProducerID, m.tv = v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion
	}
	if s != stateEmpty {
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.parts[TopicPartition{t.Topic, p}] = struct{}{}
			}
		}
	}
	l.txns[k.TransactionalID] = m
	return nil
}

// errorCode turns a Store error into a Kafka error code.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, context.Canceled):
		return kerr.NotCoordinator.Code
	}
	return kerr.UnknownServerError.Code
}

// appendErrorCode maps an append error as Kafka's appendTransactionToLog does: a timeout is
// COORDINATOR_NOT_AVAILABLE, so the client retries.
func appendErrorCode(err error) int16 {
	switch c := errorCode(err); c {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code,
		kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return kerr.UnknownServerError.Code
	default:
		return c
	}
}
