package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

const self int32 = 1 // the node id of the partition under test

// batch describes a RecordBatch v2 for the builder. The zero value is one non-idempotent record
// (producer id -1).
type batch struct {
	pid   int64 // -1 for a non-idempotent batch
	epoch int16
	seq   int32
	n     int   // records; 0 means 1
	ts    int64 // first timestamp
	txn   bool  // transactional
}

// txn is a transactional batch of n records from producer pid at epoch with base sequence seq.
func txn(pid int64, epoch int16, seq int32, n int) batch {
	b := idem(pid, epoch, seq, n)
	b.txn = true
	return b
}

// idem is an idempotent batch of n records from producer pid at epoch with base sequence seq.
func idem(pid int64, epoch int16, seq int32, n int) batch {
	return batch{pid: pid, epoch: epoch, seq: seq, n: n, ts: 1_700_000_000_000}
}

// plain is a non-idempotent batch of n records.
func plain(n int) batch { return batch{pid: -1, seq: -1, n: n, ts: 1_700_000_000_000} }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendVarint(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

// encode builds the batch as a client sends it: base offset 0, partition leader epoch -1,
// uncompressed CreateTime records with a key and a value, and a CRC32C over attributes..end.
func (s batch) encode() []byte {
	n := max(s.n, 1)
	var recs []byte
	for i := range n {
		var body []byte
		body = append(body, 0)              // attributes
		body = appendVarint(body, int64(i)) // timestamp delta
		body = appendVarint(body, int64(i)) // offset delta
		key := fmt.Appendf(nil, "k%d", i)
		val := fmt.Appendf(nil, "p%d-s%d-r%d", s.pid, s.seq, i)
		body = appendVarint(body, int64(len(key)))
		body = append(body, key...)
		body = appendVarint(body, int64(len(val)))
		body = append(body, val...)
		body = appendVarint(body, 0) // headers
		recs = appendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	be := binary.BigEndian
	b := make([]byte, log.BatchHeaderSize, log.BatchHeaderSize+len(recs))
	be.PutUint64(b[0:], 0)                                        // base offset
	be.PutUint32(b[8:], uint32(log.BatchHeaderSize-12+len(recs))) // batch length
	be.PutUint32(b[12:], 0xffffffff)                              // partition leader epoch -1
	b[16] = 2                                                     // magic
	if s.txn {
		be.PutUint16(b[21:], 0x10) // attributes: transactional
	}
	be.PutUint32(b[23:], uint32(n-1))             // last offset delta
	be.PutUint64(b[27:], uint64(s.ts))            // first timestamp
	be.PutUint64(b[35:], uint64(s.ts+int64(n-1))) // max timestamp
	be.PutUint64(b[43:], uint64(s.pid))
	be.PutUint16(b[51:], uint16(s.epoch))
	be.PutUint32(b[53:], uint32(s.seq))
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// payload concatenates encoded batches and validates them as the produce path does.
func payload(t testing.TB, bs ...batch) ([]byte, []log.BatchHeader) {
	t.Helper()
	var b []byte
	for _, s := range bs {
		b = append(b, s.encode()...)
	}
	hdrs, err := log.ValidateBatches(b, 0, nil)
	if err != nil {
		t.Fatalf("ValidateBatches: %v", err)
	}
	return b, hdrs
}

// produce appends batches with acks as one payload (fresh bytes every call: Append rewrites its
// input in place).
func produce(t testing.TB, p *Partition, acks int16, bs ...batch) (AppendInfo, error) {
	t.Helper()
	b, hdrs := payload(t, bs...)
	return p.AppendAsLeader(b, hdrs, acks)
}

// mustProduce is produce that fails the test on an error.
func mustProduce(t testing.TB, p *Partition, bs ...batch) AppendInfo {
	t.Helper()
	info, err := produce(t, p, 1, bs...)
	if err != nil {
		t.Fatalf("AppendAsLeader: %v", err)
	}
	return info
}

func openLog(t testing.TB, dir string, cfg log.Config, opts log.Options) *log.Log {
	t.Helper()
	l, err := log.Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("log.Open: %v", err)
	}
	return l
}

// newPartition opens a log in dir (a fresh temp dir when empty) and wraps it; the partition is
// closed at the end of the test.
func newPartition(t testing.TB, dir string, cfg Config) *Partition {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if cfg.Topic == "" {
		cfg.Topic = "t"
	}
	cfg.NodeID = self
	if cfg.ReplicaLagTimeMax == 0 {
		cfg.ReplicaLagTimeMax = 30 * time.Second // replica.lag.time.max.ms's default
	}
	p, err := New(openLog(t, dir, log.DefaultConfig(), log.Options{}), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// soleLeader makes p the leader at epoch with itself as the only replica.
func soleLeader(t testing.TB, p *Partition, epoch int32) {
	t.Helper()
	if err := p.BecomeLeader(epoch, epoch, []int32{self}, []int32{self}); err != nil {
		t.Fatalf("BecomeLeader: %v", err)
	}
}

// headers splits a read result into batch headers, checking framing and CRC.
func headers(t testing.TB, b []byte) []log.BatchHeader {
	t.Helper()
	hs, err := log.ValidateBatches(b, 0, nil)
	if len(b) == 0 {
		return nil
	}
	if err != nil {
		t.Fatalf("read result does not parse: %v", err)
	}
	return hs
}

func wantErr(t testing.TB, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func wantOK(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
