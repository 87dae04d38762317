package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeRecords is a Records over bytes that writes them in a few pieces (like a log read made of
// memory and file parts) and counts its releases.
type fakeRecords struct {
	data     []byte
	released atomic.Int32
	fail     bool // WriteTo fails halfway
}

func (r *fakeRecords) Len() int { return len(r.data) }

func (r *fakeRecords) WriteTo(w io.Writer) (int64, error) {
	if r.released.Load() != 0 {
		return 0, errors.New("fakeRecords: written after Release")
	}
	var n int64
	for p := r.data; len(p) > 0; {
		k := min(len(p), 5000)
		if r.fail && n > 0 {
			return n, errors.New("fakeRecords: read error")
		}
		m, err := w.Write(p[:k])
		n += int64(m)
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

func (r *fakeRecords) Release() { r.released.Add(1) }

// withRecords moves some of resp's record sets into fakeRecords, as a broker fetching from
// segment files would, and returns the wrapper and the records.
func withRecords(rng *rand.Rand, resp *kmsg.FetchResponse) (*FetchResponse, []*fakeRecords) {
	fr := &FetchResponse{FetchResponse: resp}
	var all []*fakeRecords
	for i := range resp.Topics {
		fr.Records = append(fr.Records, nil)
		for j := range resp.Topics[i].Partitions {
			p := &resp.Topics[i].Partitions[j]
			if p.RecordBatches == nil || rng.IntN(3) == 0 {
				fr.Records[i] = append(fr.Records[i], nil)
				continue
			}
			rec := &fakeRecords{data: p.RecordBatches}
			p.RecordBatches = []byte("must not be sent")
			fr.Records[i] = append(fr.Records[i], rec)
			all = append(all, rec)
		}
	}
	return fr, all
}

// materializeRecords is materialize for splices that may be Records.
func materializeRecords(t *testing.T, encoded []byte, sp []splice) []byte {
	var out bytes.Buffer
	prev := 0
	for _, s := range sp {
		out.Write(encoded[prev:s.at])
		if s.rec != nil {
			if _, err := s.rec.WriteTo(&out); err != nil {
				t.Fatal(err)
			}
		} else {
			out.Write(s.data)
		}
		prev = s.at
	}
	out.Write(encoded[prev:])
	return out.Bytes()
}

// TestFetchRecordsEncodeLikeKmsg: a FetchResponse whose record sets are Records encodes to the
// bytes kmsg writes for the same response with those bytes in RecordBatches, whatever the
// splice threshold; Records below it are read in and released at once, the others are splices.
func TestFetchRecordsEncodeLikeKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for version := int16(4); version <= fetchEncodeMaxVersion; version++ {
		for i := range 30 {
			for _, minSplice := range []int{1, spliceMin, math.MaxInt} {
				resp := randFetchResponse(rand.New(rand.NewPCG(uint64(version), uint64(i))), version)
				body := resp.AppendTo(nil)
				fr, recs := withRecords(rng, resp)
				enc, sp, err := encodeResponse(nil, nil, 1, version, 77, fr, minSplice)
				if err != nil {
					t.Fatal(err)
				}
				got := materializeRecords(t, enc, sp)
				if size := int(binary.BigEndian.Uint32(got)); size != len(got)-4 {
					t.Fatalf("v%d: frame size %d, frame holds %d", version, size, len(got)-4)
				}
				hdr := 8
				if resp.IsFlexible() {
					hdr++
				}
				if !bytes.Equal(got[hdr:], body) {
					t.Fatalf("v%d case %d minSplice %d: differs from kmsg at byte %d", version, i, minSplice, firstDiff(got[hdr:], body))
				}
				for _, r := range recs {
					spliced := slices.ContainsFunc(sp, func(s splice) bool { return s.rec == Records(r) })
					switch {
					case r.Len() >= minSplice && !spliced:
						t.Fatalf("a %d-byte Records was not spliced with minSplice %d", r.Len(), minSplice)
					case r.Len() < minSplice && (spliced || r.released.Load() != 1):
						t.Fatalf("a %d-byte Records below minSplice %d: spliced %v, released %d times", r.Len(), minSplice, spliced, r.released.Load())
					case spliced && r.released.Load() != 0:
						t.Fatal("a spliced Records was released before it was written")
					}
				}
			}
		}
	}
}

// TestFetchRecordsOnTheWire: Records are written in place on a real connection, pipelined with
// other responses, every frame equals kmsg's encoding, and every Records is released once.
func TestFetchRecordsOnTheWire(t *testing.T) {
	var mu sync.Mutex
	var all []*fakeRecords
	bodies := map[int32][]byte{}
	mux := NewMux()
	mux.Handle(1, 4, 13, func(_ context.Context, r *Request) Future {
		rng := rand.New(rand.NewPCG(uint64(r.CorrelationID), 11))
		resp := randFetchResponse(rng, r.Version)
		body := resp.AppendTo(nil)
		fr, recs := withRecords(rng, resp)
		mu.Lock()
		all = append(all, recs...)
		bodies[r.CorrelationID] = body
		mu.Unlock()
		if r.CorrelationID%3 == 0 {
			return func() (kmsg.Response, error) {
				time.Sleep(200 * time.Microsecond)
				return fr, nil
			}
		}
		return Done(fr, nil)
	})
	c := dial(t, serveMux(t, mux))
	const n = 40
	go func() {
		for corr := int32(1); corr <= n; corr++ {
			if _, err := c.nc.Write(encodeRequest(kmsg.NewPtrFetchRequest(), int16(4+corr%10), corr)); err != nil {
				return
			}
		}
	}()
	for corr := int32(1); corr <= n; corr++ {
		got := c.mustReadFrame()
		if id := int32(binary.BigEndian.Uint32(got)); id != corr {
			t.Fatalf("response %d has correlation id %d", corr, id)
		}
		hdr := 4
		if 4+corr%10 >= 12 {
			hdr++
		}
		mu.Lock()
		want := bodies[corr]
		mu.Unlock()
		if !bytes.Equal(got[hdr:], want) {
			t.Fatalf("response %d differs from kmsg at byte %d", corr, firstDiff(got[hdr:], want))
		}
	}
	eventuallyTrue(t, "every Records released once", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range all {
			if r.released.Load() != 1 {
				return false
			}
		}
		return true
	})
}

// TestFetchRecordsReleasedWhenNotWritten: Records of responses that are never written (the
// client went away while they waited, a Records failed halfway) are released all the same, and
// a failed Records ends the connection instead of sending a broken frame.
func TestFetchRecordsReleasedWhenNotWritten(t *testing.T) {
	big := func() *fakeRecords { return &fakeRecords{data: randomBytes[:3*spliceMin]} }
	response := func(recs ...*fakeRecords) *FetchResponse {
		resp := kmsg.NewPtrFetchResponse()
		t := kmsg.NewFetchResponseTopic()
		fr := &FetchResponse{FetchResponse: resp, Records: [][]Records{nil}}
		for i, r := range recs {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(i)
			t.Partitions = append(t.Partitions, p)
			fr.Records[0] = append(fr.Records[0], r)
		}
		resp.Topics = append(resp.Topics, t)
		return fr
	}

	t.Run("client gone while the response waits", func(t *testing.T) {
		release := make(chan struct{})
		recs := []*fakeRecords{big(), big(), {data: []byte("small")}}
		mux := NewMux()
		mux.Handle(1, 4, 13, func(context.Context, *Request) Future {
			return func() (kmsg.Response, error) {
				<-release
				return response(recs...), nil
			}
		})
		c := dial(t, serveMux(t, mux))
		c.send(kmsg.NewPtrFetchRequest(), 12)
		time.Sleep(20 * time.Millisecond)
		_ = c.nc.Close()
		time.Sleep(20 * time.Millisecond)
		close(release)
		eventuallyTrue(t, "Records released", func() bool {
			for _, r := range recs {
				if r.released.Load() != 1 {
					return false
				}
			}
			return true
		})
	})

	t.Run("a Records fails halfway", func(t *testing.T) {
		bad := big()
		bad.fail = true
		recs := []*fakeRecords{big(), bad, big()}
		mux := NewMux()
		mux.Handle(1, 4, 13, func(context.Context, *Request) Future { return Done(response(recs...), nil) })
		c := dial(t, serveMux(t, mux))
		c.send(kmsg.NewPtrFetchRequest(), 12)
		// The frame is cut short and the connection closed: the client sees an error, not a frame.
		if b, err := c.readFrame(); err == nil {
			t.Fatalf("read a %d-byte frame from a response whose records failed", len(b))
		}
		eventuallyTrue(t, "Records released", func() bool {
			for _, r := range recs {
				if r.released.Load() != 1 {
					return false
				}
			}
			return true
		})
	})
}

// eventuallyTrue polls cond for up to testTimeout.
func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
