package log

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestEncodeBatch: EncodeBatch agrees byte for byte with the test builder
// (itself checked against kmsg), passes ValidateBatches, and EachRecord
// reads it back, skipping compressed and control batches.
func TestEncodeBatch(t *testing.T) {
	recs := []KeyValue{{Key: []byte("k0"), Value: []byte("v0")}, {Key: []byte("k1")}, {Value: []byte{}}}
	got := EncodeBatch(recs, 1_700_000_000_000)
	want := batchSpec{epoch: -1, firstTs: 1_700_000_000_000, producerID: -1, producerEpoch: -1, baseSeq: -1, records: []testRecord{
		{key: []byte("k0"), value: []byte("v0")}, {key: []byte("k1")}, {value: []byte{}}}}.build()
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeBatch\n got %x\nwant %x", got, want)
	}
	if _, err := ValidateBatches(got, 0, nil); err != nil {
		t.Fatal(err)
	}
	setBaseOffset(got, 10)
	compressed := batchSpec{baseOffset: 13, attrs: 1, rawRecords: []byte("gzip?"), numRecords: 1}.build()
	control := batchSpec{baseOffset: 14, attrs: attrControl, records: []testRecord{{key: []byte("c")}}}.build()
	last := EncodeBatch([]KeyValue{{Key: []byte("k3"), Value: []byte("v3")}}, 0)
	setBaseOffset(last, 15)
	var out []string
	err := EachRecord(bytes.Join([][]byte{got, compressed, control, last}, nil), func(o int64, k, v []byte) error {
		out = append(out, fmt.Sprintf("%d:%q/%v:%q/%v", o, k, k == nil, v, v == nil))
		return nil
	})
	wantOut := `[10:"k0"/false:"v0"/false 11:"k1"/false:""/true 12:""/true:""/false 15:"k3"/false:"v3"/false]`
	if err != nil || fmt.Sprint(out) != wantOut {
		t.Fatalf("EachRecord: %v %v", out, err)
	}
	stop := errors.New("stop")
	if err := EachRecord(got, func(int64, []byte, []byte) error { return stop }); err != stop {
		t.Fatalf("fn's error: %v", err)
	}
	got[len(got)-1] ^= 1
	if err := EachRecord(got, func(int64, []byte, []byte) error { return nil }); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("bad CRC: %v", err)
	}
	got[len(got)-1] ^= 1
	SetProducer(got, 7, 1, 42)
	if h, err := ValidateBatches(got, 0, nil); err != nil || h[0].ProducerID != 7 || h[0].ProducerEpoch != 1 || h[0].BaseSequence != 42 {
		t.Fatalf("SetProducer: %+v %v", h, err)
	}
}
