package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testRecord is one record for the batch builder.
type testRecord struct {
	key, value []byte
	tsDelta    int64
	headers    [][2][]byte // key, value
}

// batchSpec describes a RecordBatch v2 to build. Zero values give an
// uncompressed, non-idempotent CreateTime batch.
type batchSpec struct {
	baseOffset    int64
	epoch         int32
	attrs         int16
	firstTs       int64
	maxTs         int64 // 0: firstTs + the largest tsDelta
	producerID    int64 // 0 means -1
	producerEpoch int16
	baseSeq       int32
	records       []testRecord
	rawRecords    []byte // used instead of records (e.g. "compressed" bytes)
	numRecords    int32  // with rawRecords
}

func appendVarint(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	return append(appendVarint(dst, int64(len(b))), b...)
}

func encodeRecord(dst []byte, i int, r testRecord) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = appendVarint(body, r.tsDelta)
	body = appendVarint(body, int64(i))
	body = appendVarBytes(body, r.key)
	body = appendVarBytes(body, r.value)
	body = appendVarint(body, int64(len(r.headers)))
	for _, h := range r.headers {
		body = appendVarBytes(body, h[0])
		body = appendVarBytes(body, h[1])
	}
	dst = appendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func (s batchSpec) build() []byte {
	recs, n := s.rawRecords, s.numRecords
	maxTs := s.firstTs
	if recs == nil {
		for i, r := range s.records {
			recs = encodeRecord(recs, i, r)
			maxTs = max(maxTs, s.firstTs+r.tsDelta)
		}
		n = int32(len(s.records))
	}
	if s.maxTs != 0 {
		maxTs = s.maxTs
	}
	pid := s.producerID
	if pid == 0 {
		pid = -1
	}
	be := binary.BigEndian
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	be.PutUint64(b[0:], uint64(s.baseOffset))
	be.PutUint32(b[8:], uint32(BatchHeaderSize-12+len(recs)))
	be.PutUint32(b[12:], uint32(s.epoch))
	b[16] = 2
	be.PutUint16(b[21:], uint16(s.attrs))
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], uint64(s.firstTs))
	be.PutUint64(b[35:], uint64(maxTs))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(s.producerEpoch))
	be.PutUint32(b[53:], uint32(s.baseSeq))
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	fixCRC(b)
	return b
}

func fixCRC(b []byte) { binary.BigEndian.PutUint32(b[17:], batchCRC(b)) }

// simpleBatch is a batch of n records with values "v<i>" and timestamps
// ts, ts+1, ...
func simpleBatch(n int, ts int64) []byte {
	return valueBatch(n, 8, ts)
}

// valueBatch is a batch of n records with size-byte values.
func valueBatch(n, size int, ts int64) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, size)
		copy(v, fmt.Sprintf("v%d", i))
		recs[i] = testRecord{key: []byte{byte(i)}, value: v, tsDelta: int64(i)}
	}
	return batchSpec{firstTs: ts, records: recs}.build()
}

// batches splits a read result into headers, failing on bad framing or CRC.
func batches(t testing.TB, b []byte) []BatchHeader {
	t.Helper()
	var hs []BatchHeader
	for p := 0; p < len(b); {
		h, size, err := frameBatch(b[p:], 0)
		if err != nil {
			t.Fatalf("read result at %d: %v", p, err)
		}
		if err := checkCRC(h, b[p:p+size]); err != nil {
			t.Fatalf("read result at %d: %v", p, err)
		}
		hs = append(hs, h)
		p += size
	}
	return hs
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ ms int64 }

func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms) }

func testConfig() Config {
	c := DefaultConfig()
	c.IndexIntervalBytes = 256
	return c
}

func openLog(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) AppendResult {
	t.Helper()
	res, err := l.Append(b, epoch)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

func mustRead(t testing.TB, l *Log, off int64, maxBytes int, maxOffset int64) []BatchHeader {
	t.Helper()
	b, err := l.Read(off, maxBytes, maxOffset)
	if err != nil {
		t.Fatalf("Read(%d, %d, %d): %v", off, maxBytes, maxOffset, err)
	}
	return batches(t, b)
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, name string) int64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// crash simulates an unclean shutdown of a closed log: the marker goes.
func crash(t testing.TB, l *Log, dir string) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatal(err)
	}
}

// errRetry, returned by a concurrentReaders read, means "the log moved under this read; go on".
var errRetry = errors.New("retry")

// concurrentReaders runs n goroutines, each calling read (with its index and a random source
// seeded by it and seed) in a loop, while the test mutates the log. stop ends them and fails the
// test with the first error a read returned (other than errRetry).
func concurrentReaders(t *testing.T, n int, seed uint64, read func(g int, rng *rand.Rand) error) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), seed))
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := read(g, rng); err != nil && !errors.Is(err, errRetry) {
					errs <- err
					return
				}
			}
		}()
	}
	return func() {
		t.Helper()
		close(done)
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
}
