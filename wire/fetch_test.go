package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// materialize returns the bytes that encoded and its splices stand for.
func materialize(encoded []byte, sp []splice) []byte {
	var out []byte
	prev := 0
	for _, s := range sp {
		out = append(out, encoded[prev:s.at]...)
		out = append(out, s.data...)
		prev = s.at
	}
	return append(out, encoded[prev:]...)
}

func randTags(rng *rand.Rand) kmsg.Tags {
	var t kmsg.Tags
	if rng.IntN(4) != 0 {
		return t
	}
	for range 1 + rng.IntN(3) {
		val := make([]byte, rng.IntN(200))
		for i := range val {
			val[i] = byte(rng.Uint32())
		}
		t.Set(uint32(rng.IntN(300)), val)
	}
	return t
}

// randInt returns small, boundary and random values, so that defaults (-1) and non-defaults both occur.
func randInt64(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return -1
	case 1:
		return 0
	case 2:
		return rng.Int64N(1000)
	}
	return int64(rng.Uint64())
}

func randInt32(rng *rand.Rand) int32 { return int32(randInt64(rng)) }

func randString(rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("t", 100+rng.IntN(300)) // a multi-byte uvarint length
	}
	return "topic-" + strings.Repeat("x", rng.IntN(20))
}

func randRecords(rng *rand.Rand) []byte {
	var n int
	switch rng.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		n = spliceMin - 1 + rng.IntN(3)
	case 3:
		n = spliceMin + rng.IntN(50_000)
	default:
		n = rng.IntN(300)
	}
	off := rng.IntN(len(randomBytes) - n)
	return randomBytes[off : off+n : off+n]
}

// randomBytes is where random record sets are cut from.
var randomBytes = func() []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 256<<10)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}()

// randFetchResponse fills every field of a FetchResponse, whatever the version uses.
func randFetchResponse(rng *rand.Rand, version int16) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version = version
	r.ThrottleMillis = randInt32(rng)
	r.ErrorCode = int16(rng.IntN(100))
	r.SessionID = randInt32(rng)
	nt := rng.IntN(4)
	if rng.IntN(10) == 0 {
		nt = 130 // a multi-byte compact array length
	}
	for range nt {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = randString(rng)
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.Uint32())
		}
		t.UnknownTags = randTags(rng)
		np := rng.IntN(5)
		if nt > 10 {
			np = rng.IntN(2)
		} else if rng.IntN(8) == 0 {
			np = 200
		}
		for range np {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = randInt32(rng)
			p.ErrorCode = int16(rng.IntN(100))
			p.HighWatermark = randInt64(rng)
			p.LastStableOffset = randInt64(rng)
			p.LogStartOffset = randInt64(rng)
			if rng.IntN(3) == 0 {
				p.DivergingEpoch.Epoch = randInt32(rng)
				p.DivergingEpoch.EndOffset = randInt64(rng)
				p.DivergingEpoch.UnknownTags = randTags(rng)
			}
			if rng.IntN(3) == 0 {
				p.CurrentLeader.LeaderID = randInt32(rng)
				p.CurrentLeader.LeaderEpoch = randInt32(rng)
				p.CurrentLeader.UnknownTags = randTags(rng)
			}
			if rng.IntN(3) == 0 {
				p.SnapshotID.EndOffset = randInt64(rng)
				p.SnapshotID.Epoch = randInt32(rng)
				p.SnapshotID.UnknownTags = randTags(rng)
			}
			switch rng.IntN(3) {
			case 0:
				p.AbortedTransactions = nil
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			default:
				for range 1 + rng.IntN(3) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = randInt64(rng), randInt64(rng)
					a.UnknownTags = randTags(rng)
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			p.PreferredReadReplica = randInt32(rng)
			p.RecordBatches = randRecords(rng)
			p.UnknownTags = randTags(rng)
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = append(r.Topics, t)
	}
	if rng.IntN(2) == 0 {
		for range 1 + rng.IntN(3) {
			b := kmsg.NewFetchResponseBroker()
			b.NodeID, b.Port = randInt32(rng), randInt32(rng)
			b.Host = randString(rng)
			if rng.IntN(2) == 0 {
				b.Rack = kmsg.StringPtr(randString(rng))
			}
			b.UnknownTags = randTags(rng)
			r.Brokers = append(r.Brokers, b)
		}
	}
	r.UnknownTags = randTags(rng)
	return r
}

// TestFetchEncoderMatchesKmsg checks appendFetchResponse against kmsg's AppendTo, byte for byte,
// on random responses of every version, splicing nothing, everything, and the large record sets.
func TestFetchEncoderMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	iters := 60
	if testing.Short() {
		iters = 20
	}
	for version := int16(0); version <= fetchEncodeMaxVersion; version++ {
		for i := range iters {
			resp := randFetchResponse(rng, version)
			prefix := []byte("prefix")
			want := resp.AppendTo(slices.Clone(prefix))
			for _, minSplice := range []int{1, spliceMin, 1 << 62} {
				enc, sp := appendFetchResponse(slices.Clone(prefix), nil, resp, minSplice)
				if got := materialize(enc, sp); !bytes.Equal(got, want) {
					t.Fatalf("v%d case %d, minSplice %d: encoding differs from kmsg at byte %d of %d (got %d bytes)",
						version, i, minSplice, firstDiff(got, want), len(want), len(got))
				}
				for _, s := range sp {
					if len(s.data) < minSplice || len(s.data) == 0 {
						t.Fatalf("spliced %d bytes with minSplice %d", len(s.data), minSplice)
					}
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFetchEncoderKnowsKmsgTypes fails when kmsg's FetchResponse types change shape (a field or a
// version added), which would make appendFetchResponse drop data silently. If it fails after a
// kmsg upgrade: compare FetchResponse.AppendTo in kmsg's generated.go with appendFetchResponse,
// update the encoder, the random responses in this file and the lists below.
func TestFetchEncoderKnowsKmsgTypes(t *testing.T) {
	if got := (&kmsg.FetchResponse{}).MaxVersion(); got != fetchEncodeMaxVersion {
		t.Errorf("kmsg FetchResponse max version is %d; appendFetchResponse knows up to %d", got, fetchEncodeMaxVersion)
	}
	want := []struct {
		v      any
		fields []string
	}{
		{kmsg.FetchResponse{}, []string{"Version", "ThrottleMillis", "ErrorCode", "SessionID", "Topics", "Brokers", "UnknownTags"}},
		{kmsg.FetchResponseTopic{}, []string{"Topic", "TopicID", "Partitions", "UnknownTags"}},
		{kmsg.FetchResponseTopicPartition{}, []string{"Partition", "ErrorCode", "HighWatermark", "LastStableOffset", "LogStartOffset", "DivergingEpoch", "CurrentLeader", "SnapshotID", "AbortedTransactions", "PreferredReadReplica", "RecordBatches", "UnknownTags"}},
		{kmsg.FetchResponseTopicPartitionDivergingEpoch{}, []string{"Epoch", "EndOffset", "UnknownTags"}},
		{kmsg.FetchResponseTopicPartitionCurrentLeader{}, []string{"LeaderID", "LeaderEpoch", "UnknownTags"}},
		{kmsg.FetchResponseTopicPartitionSnapshotID{}, []string{"EndOffset", "Epoch", "UnknownTags"}},
		{kmsg.FetchResponseTopicPartitionAbortedTransaction{}, []string{"ProducerID", "FirstOffset", "UnknownTags"}},
		{kmsg.FetchResponseBroker{}, []string{"NodeID", "Host", "Port", "Rack", "UnknownTags"}},
	}
	for _, w := range want {
		v, fields := w.v, w.fields
		typ := reflect.TypeOf(v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, fields) {
			t.Errorf("kmsg.%s has fields %v; appendFetchResponse knows %v", typ.Name(), got, fields)
		}
	}
}

// TestFetchResponsesOnTheWire pipelines Fetch requests of several versions, whose responses carry
// random record sets (spliced or not), between small Metadata requests, and checks every response
// frame byte for byte against kmsg's encoding.
func TestFetchResponsesOnTheWire(t *testing.T) {
	versions := []int16{4, 7, 11, 12, 13}
	const rounds = 30
	respFor := func(corr int32, version int16) *kmsg.FetchResponse {
		return randFetchResponse(rand.New(rand.NewPCG(uint64(corr), 7)), version)
	}
	mux := NewMux()
	mux.Handle(1, 4, 13, func(_ context.Context, r *Request) Future {
		resp := respFor(r.CorrelationID, r.Version)
		if r.CorrelationID%4 == 1 {
			return func() (kmsg.Response, error) {
				time.Sleep(200 * time.Microsecond) // past flushDelay: what came before is flushed
				return resp, nil
			}
		}
		return Done(resp, nil)
	})
	mux.Handle(3, 0, 12, func(_ context.Context, r *Request) Future {
		return Done(r.Msg.ResponseKind(), nil)
	})
	c := dial(t, serveMux(t, mux))
	type sent struct {
		corr         int32
		key, version int16
	}
	var want []sent
	go func() {
		var corr int32
		for i := range rounds {
			for _, key := range []int16{3, 1} {
				corr++
				version := int16(9)
				var req kmsg.Request = metadataReq("x")
				if key == 1 {
					version = versions[i%len(versions)]
					req = kmsg.NewPtrFetchRequest()
				}
				if _, err := c.nc.Write(encodeRequest(req, version, corr)); err != nil {
					return
				}
			}
		}
	}()
	var corr int32
	for i := range rounds {
		for _, key := range []int16{3, 1} {
			corr++
			version := int16(9)
			if key == 1 {
				version = versions[i%len(versions)]
			}
			want = append(want, sent{corr, key, version})
		}
	}
	for _, w := range want {
		got := c.mustReadFrame()
		var resp kmsg.Response = kmsg.NewPtrMetadataResponse()
		if w.key == 1 {
			resp = respFor(w.corr, w.version)
		}
		// The response as kmsg encodes it, after the size: correlation id, header tags, body.
		resp.SetVersion(w.version)
		exp := binary.BigEndian.AppendUint32(nil, uint32(w.corr))
		if resp.IsFlexible() {
			exp = append(exp, 0)
		}
		if exp = resp.AppendTo(exp); !bytes.Equal(got, exp) {
			t.Fatalf("%s v%d response %d: %d bytes, differs from kmsg's %d at byte %d",
				kmsg.NameForKey(w.key), w.version, w.corr, len(got), len(exp), firstDiff(got, exp))
		}
	}
}
