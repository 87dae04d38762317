package broker

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/log"
)

// kafkaMarker is a transaction marker as Kafka writes it (a control batch of one record: key
// ControlRecordKey, value EndTxnMarker), encoded with kmsg, independently of this package.
func kafkaMarker(base, pid int64, epoch int16, commit bool) []byte {
	typ := kmsg.ControlRecordKeyTypeAbort
	if commit {
		typ = kmsg.ControlRecordKeyTypeCommit
	}
	key := (&kmsg.ControlRecordKey{Type: typ}).AppendTo(nil)
	value := (&kmsg.EndTxnMarker{CoordinatorEpoch: 3}).AppendTo(nil)
	rec := kmsg.Record{Key: key, Value: value}
	body := rec.AppendTo(nil)
	rec.Length = int32(len(body) - 1) // the zero length itself is one byte
	records := rec.AppendTo(nil)
	b := kmsg.RecordBatch{
		FirstOffset: base, PartitionLeaderEpoch: 0, Magic: 2, Attributes: 0x30, // transactional, control
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: -1, NumRecords: 1, Records: records,
		FirstTimestamp: 1, MaxTimestamp: 1,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// TestReplayBatches: replaying __consumer_offsets delivers each record with its offset and its
// batch's producer and transactional flag, and each marker as a Control record with Kafka's key.
func TestReplayBatches(t *testing.T) {
	plain := log.EncodeBatch([]log.KeyValue{{Key: []byte("k0"), Value: []byte("v0")}, {Key: []byte("k1"), Value: nil}}, 1)
	txn := log.EncodeBatch([]log.KeyValue{{Key: []byte("k2"), Value: []byte("v2")}}, 1)
	log.SetProducer(txn, 42, 5, 0)
	orAttributes(txn, attrTransactionalV2)
	setBase := func(b []byte, off int64) []byte { binary.BigEndian.PutUint64(b, uint64(off)); return b }
	data := append(append(append(setBase(plain, 10), setBase(txn, 12)...), kafkaMarker(13, 42, 5, true)...), kafkaMarker(14, 43, 0, false)...)

	var got []group.Record
	collect := func(r group.Record) error { got = append(got, r); return nil }
	next, err := replayBatches(data, 10, collect)
	if err != nil || next != 15 {
		t.Fatalf("replay: next %d, %v", next, err)
	}
	want := []group.Record{
		{Key: []byte("k0"), Value: []byte("v0"), Offset: 10, ProducerID: -1},
		{Key: []byte("k1"), Offset: 11, ProducerID: -1},
		{Key: []byte("k2"), Value: []byte("v2"), Offset: 12, ProducerID: 42, Transactional: true},
		{Key: []byte{0, 0, 0, 1}, Offset: 13, ProducerID: 42, Transactional: true, Control: true},
		{Key: []byte{0, 0, 0, 0}, Offset: 14, ProducerID: 43, Transactional: true, Control: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records: %+v", len(got), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) ||
			g.Offset != w.Offset || g.ProducerID != w.ProducerID || g.Transactional != w.Transactional || g.Control != w.Control {
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
	}

	// From the middle of a batch (a read at an offset inside it): the earlier records are skipped.
	got = nil
	if next, err := replayBatches(data, 11, collect); err != nil || next != 15 || len(got) != 4 || got[0].Offset != 11 {
		t.Fatalf("from offset 11: next %d, %v, %+v", next, err, got)
	}
	// A partial batch at the end is left for the next read.
	got = nil
	if next, err := replayBatches(data[:len(data)-3], 10, collect); err != nil || next != 14 || len(got) != 4 {
		t.Fatalf("partial: next %d, %v, %d records", next, err, len(got))
	}
	// A corrupted marker is an error, not a skipped transaction end.
	bad := kafkaMarker(0, 1, 0, true)
	bad[len(bad)-1] ^= 0xff
	if _, err := replayBatches(bad, 0, collect); err == nil {
		t.Fatal("a marker with a bad CRC was replayed")
	}
}
