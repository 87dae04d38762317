package txn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRecordEncoding: record's key and value are kmsg's encoding of the transition, built here
// field by field and encoded from nil (partitions grouped by topic, in order), for value v0 and
// v1, with no partition, with several topics, and with a long id; the key has no spare capacity,
// so appending to it cannot overwrite the value that follows it in the same buffer.
func TestRecordEncoding(t *testing.T) {
	parts := map[TopicPartition]struct{}{tp("b", 2): {}, tp("a", 7): {}, tp("b", 0): {}, tp("c", 1): {}, tp("a", 3): {}}
	for _, c := range []struct {
		id    string
		state state
		parts map[TopicPartition]struct{}
	}{
		{"tx", stateOngoing, parts},
		{strings.Repeat("long-id-", 40), statePrepareCommit, parts},
		{"tx", stateEmpty, nil},
		{"tx", stateCompleteAbort, map[TopicPartition]struct{}{}},
	} {
		for _, version := range []int16{0, 1} {
			m := &meta{producerID: 1000, lastProducerID: 999, nextProducerID: 1001, epoch: 3, tv: 2, timeoutMs: 60000,
				state: c.state, parts: c.parts, startMs: 1234, lastUpdateMs: 5678}
			got := record(c.id, m, version)

			k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: c.id}
			v := kmsg.NewTxnMetadataValue()
			v.Version, v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = version, 1000, 3, 60000
			v.State, v.LastUpdateTimestamp, v.StartTimestamp = kmsg.TransactionState(c.state), 5678, 1234
			if version >= 1 {
				v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion = 999, 1001, 2
			}
			if c.state != stateEmpty {
				v.Topics = []kmsg.TxnMetadataValueTopic{}
				for _, p := range sortedParts(c.parts) {
					if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != p.Topic {
						v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: p.Topic})
					}
					v.Topics[len(v.Topics)-1].Partitions = append(v.Topics[len(v.Topics)-1].Partitions, p.Partition)
				}
			}
			if want := k.AppendTo(nil); !bytes.Equal(got.Key, want) || cap(got.Key) != len(got.Key) {
				t.Errorf("%s v%d key %x (cap %d), want %x", c.state, version, got.Key, cap(got.Key), want)
			}
			if want := v.AppendTo(nil); !bytes.Equal(got.Value, want) {
				t.Errorf("%s v%d value %x, want %x", c.state, version, got.Value, want)
			}
		}
	}
}
