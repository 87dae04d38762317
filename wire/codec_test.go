package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fullMux serves every key kmsg knows, at every version kmsg knows, so ParseRequest decodes
// everything. Its handlers are never called.
func fullMux() *Mux {
	m := NewMux()
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		if r := kmsg.RequestForKey(k); r != nil {
			m.Handle(k, 0, r.MaxVersion(), func(context.Context, *Request) Future { panic("not called") })
		}
	}
	m.Handle(MetadataFetchKey, 0, 0, func(context.Context, *Request) Future { panic("not called") })
	return m
}

func produceReq(partitions, recordBytes int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 30000
	req.TransactionID = kmsg.StringPtr("txn")
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "orders"
	topic.TopicID = [16]byte{1, 2, 3}
	for p := range partitions {
		part := kmsg.NewProduceRequestTopicPartition()
		part.Partition = int32(p)
		part.Records = make([]byte, recordBytes)
		for i := range part.Records {
			part.Records[i] = byte(i * p)
		}
		topic.Partitions = append(topic.Partitions, part)
	}
	req.Topics = append(req.Topics, topic)
	return req
}

// seedRequests are valid requests of several keys and versions, header versions 0, 1 and 2.
func seedRequests() [][]byte {
	var frames [][]byte
	add := func(req kmsg.Request, versions ...int16) {
		for _, v := range versions {
			frames = append(frames, encodeRequest(req, v, int32(len(frames)+1))[4:])
		}
	}
	add(produceReq(2, 64), 3, 7, 9, 11, 13)
	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = 42
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	add(fetch, 4, 11, 12, 13, 16)
	add(metadataReq("a", "b"), 0, 1, 8, 9, 12)
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "franz-go", "1.0"
	add(av, 0, 3, 4)
	cs := kmsg.NewPtrControlledShutdownRequest()
	cs.BrokerID = 3
	add(cs, 0, 3) // v0 has request header v0: no client id
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType = "g", "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", []byte{0, 1, 0, 0, 0, 0}
	jg.Protocols = append(jg.Protocols, proto)
	add(jg, 0, 5, 6, 9)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "t", 3, 1
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("1000")
	ctt.Configs = append(ctt.Configs, cfg)
	ct.Topics = append(ct.Topics, ctt)
	add(ct, 2, 5, 7)
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group = "g"
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = "t"
	ocp := kmsg.NewOffsetCommitRequestTopicPartition()
	ocp.Offset = 7
	oct.Partitions = append(oct.Partitions, ocp)
	oc.Topics = append(oc.Topics, oct)
	add(oc, 2, 8)
	for _, req := range controlSeeds() { // the control plane's APIs (control_test.go)
		add(req, req.GetVersion())
	}
	return frames
}

func TestParseRequestSeeds(t *testing.T) {
	mux := fullMux()
	for i, frame := range seedRequests() {
		req, err := ParseRequest(frame, mux)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		key, version := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
		if req.Key != key || req.Version != version || req.CorrelationID != int32(i+1) {
			t.Fatalf("seed %d: header %d v%d corr %d", i, req.Key, req.Version, req.CorrelationID)
		}
		if req.Msg.Key() != key || req.Msg.GetVersion() != version {
			t.Fatalf("seed %d: msg %T v%d", i, req.Msg, req.Msg.GetVersion())
		}
		wantClientID := !(key == 7 && version == 0)
		if (req.ClientID != nil) != wantClientID || wantClientID && *req.ClientID != "wire-test" {
			t.Fatalf("seed %d (%s v%d): client id %v", i, kmsg.NameForKey(key), version, req.ClientID)
		}
		// Decoding then encoding gives the same body back.
		if got := encodeRequest(req.Msg, version, req.CorrelationID)[4:]; !slices.Equal(got, frame) {
			t.Fatalf("seed %d (%s v%d): re-encoded request differs", i, kmsg.NameForKey(key), version)
		}
	}
	// ControlledShutdown v0 really has no client id: its body starts right after the correlation id.
	cs := encodeRequest(&kmsg.ControlledShutdownRequest{BrokerID: 0x0a0b0c0d}, 0, 9)
	if got := binary.BigEndian.Uint32(cs[12:]); got != 0x0a0b0c0d {
		t.Fatalf("ControlledShutdown v0 frame %x", cs)
	}
}

func TestParseRequestHeaderTagsAndNullClientID(t *testing.T) {
	mux := fullMux()
	body := metadataReq("x")
	body.SetVersion(12)
	// key 3, v12, corr 5, null client id, two header tags (0: "ab", 7: ""), then the body.
	frame := []byte{0, 3, 0, 12, 0, 0, 0, 5, 0xff, 0xff, 2, 0, 2, 'a', 'b', 7, 0}
	frame = body.AppendTo(frame)
	req, err := ParseRequest(frame, mux)
	if err != nil {
		t.Fatal(err)
	}
	if req.ClientID != nil || req.CorrelationID != 5 {
		t.Fatalf("header %+v", req)
	}
	if topics := req.Msg.(*kmsg.MetadataRequest).Topics; len(topics) != 1 || *topics[0].Topic != "x" {
		t.Fatalf("body %+v", req.Msg)
	}
}

func TestParseRequestErrors(t *testing.T) {
	mux := NewMux()
	mux.Handle(3, 1, 9, func(context.Context, *Request) Future { return nil })
	mux.Handle(18, 0, 3, func(context.Context, *Request) Future { return nil })
	for _, tc := range []struct {
		name    string
		frame   []byte
		want    error
		partial bool // a Request with the header fields comes back
	}{
		{"short", []byte{0, 3, 0, 9, 0, 0, 0}, ErrMalformed, false},
		{"unknown to kmsg", []byte{0x7f, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff}, ErrUnknownKey, true},
		{"not served", encodeRequest(kmsg.NewPtrFetchRequest(), 4, 1)[4:], ErrUnknownKey, true},
		{"below range", encodeRequest(metadataReq("x"), 0, 1)[4:], ErrUnsupportedVersion, true},
		{"above range", encodeRequest(metadataReq("x"), 10, 1)[4:], ErrUnsupportedVersion, true},
		{"apiversions above range", encodeRequest(kmsg.NewPtrApiVersionsRequest(), 9, 1)[4:], ErrUnsupportedVersion, true},
		{"truncated body", encodeRequest(metadataReq("xyz"), 9, 1)[4:20], ErrMalformed, true},
		{"truncated client id", []byte{0, 3, 0, 9, 0, 0, 0, 1, 0, 5, 'a'}, ErrMalformed, true},
	} {
		req, err := ParseRequest(tc.frame, mux)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			continue
		}
		if tc.partial != (req != nil) {
			t.Errorf("%s: request %+v", tc.name, req)
			continue
		}
		if req != nil && (req.Msg != nil || req.CorrelationID != 1) {
			t.Errorf("%s: partial request %+v", tc.name, req)
		}
	}
}

func TestMux(t *testing.T) {
	m := NewMux()
	h := func(context.Context, *Request) Future { return nil }
	m.Handle(18, 0, 3, h)
	m.Handle(0, 3, 11, h)
	m.Handle(3, 0, 12, h)
	if mn, mx, ok := m.Versions(0); !ok || mn != 3 || mx != 11 {
		t.Fatalf("Versions(0) = %d, %d, %v", mn, mx, ok)
	}
	if _, _, ok := m.Versions(1); ok {
		t.Fatal("Versions(1) ok for an unregistered key")
	}
	keys := m.APIKeys()
	if len(keys) != 3 || keys[0].ApiKey != 0 || keys[1].ApiKey != 3 || keys[2].ApiKey != 18 || keys[2].MaxVersion != 3 {
		t.Fatalf("APIKeys = %+v", keys)
	}
	for name, f := range map[string]func(){
		"duplicate":        func() { m.Handle(3, 0, 1, h) },
		"nil handler":      func() { m.Handle(1, 0, 1, nil) },
		"unknown key":      func() { m.Handle(9999, 0, 1, h) },
		"inverted range":   func() { m.Handle(1, 4, 3, h) },
		"negative min":     func() { m.Handle(1, -1, 3, h) },
		"above kmsg's max": func() { m.Handle(1, 0, 99, h) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Handle did not panic", name)
				}
			}()
			f()
		}()
	}
}

// FuzzParseRequest feeds arbitrary frames to the decode path (header + body, every key and
// version kmsg knows). It must never panic, and whatever it accepts must be a consistent request.
func FuzzParseRequest(f *testing.F) {
	for _, frame := range seedRequests() {
		f.Add(frame)
	}
	mux := fullMux()
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseRequest(frame, mux)
		if err != nil {
			if req != nil && req.Msg != nil {
				t.Fatalf("error %v with a decoded message", err)
			}
			return
		}
		if req.Msg == nil || req.Msg.Key() != req.Key || req.Msg.GetVersion() != req.Version {
			t.Fatalf("inconsistent request %+v", req)
		}
		// What was accepted can be encoded again, and so can an empty response to it.
		_ = req.Msg.AppendTo(nil)
		if _, err := appendResponse(nil, req.Key, req.Version, req.CorrelationID, req.Msg.ResponseKind()); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkParseProduceRequest(b *testing.B) {
	mux := NewMux()
	mux.Handle(0, 3, 11, func(context.Context, *Request) Future { return nil })
	frame := encodeRequest(produceReq(4, 16<<10), 9, 1)[4:]
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(frame, mux); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeProduceResponse(b *testing.B) {
	resp := kmsg.NewPtrProduceResponse()
	topic := kmsg.NewProduceResponseTopic()
	topic.Topic = "orders"
	for p := range 4 {
		part := kmsg.NewProduceResponseTopicPartition()
		part.Partition, part.BaseOffset = int32(p), 1000
		topic.Partitions = append(topic.Partitions, part)
	}
	resp.Topics = append(resp.Topics, topic)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = appendResponse(buf[:0], 0, 9, 1, resp); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// TestDecodeAllocationBounded sends every key and version kmsg knows a 64 KiB body in which an
// early length field claims a huge array. kmsg checks a claimed count against the bytes left (times
// the element's minimum encoded size) before allocating, so what a decode allocates is bounded by a
// small multiple of what was received: an element struct is bigger than its minimum encoding, so
// not 1x (about 27x at worst here, StopReplica v0), but never the claim (Kafka's CVE-2022-34917).
// This guards against a kmsg upgrade that loses those checks.
func TestDecodeAllocationBounded(t *testing.T) {
	const bodyLen, maxRatio = 64 << 10, 64
	mux := fullMux()
	rng := rand.New(rand.NewPCG(1, 2))
	var ms runtime.MemStats
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		r := kmsg.RequestForKey(k)
		if r == nil {
			continue
		}
		for v := int16(0); v <= r.MaxVersion(); v++ {
			r.SetVersion(v)
			for pat := range 8 {
				frame := binary.BigEndian.AppendUint16(nil, uint16(k))
				frame = binary.BigEndian.AppendUint16(frame, uint16(v))
				frame = append(frame, 0, 0, 0, 1, 0xff, 0xff) // correlation id, null client id
				if r.IsFlexible() {
					frame = append(frame, 0)
				}
				body := make([]byte, bodyLen)
				pre := rng.IntN(24)
				for i := range pre {
					body[i] = byte(rng.IntN(3))
				}
				claim := bodyLen / (1 + pat%4)
				if r.IsFlexible() {
					binary.PutUvarint(body[pre:], uint64(claim))
				} else {
					binary.BigEndian.PutUint32(body[pre:], uint32(claim))
				}
				frame = append(frame, body...)
				runtime.ReadMemStats(&ms)
				before := ms.TotalAlloc
				_, _ = ParseRequest(frame, mux)
				runtime.ReadMemStats(&ms)
				if got := ms.TotalAlloc - before; got > maxRatio*uint64(len(frame)) {
					t.Errorf("%s v%d: decoding %d bytes allocated %d", kmsg.NameForKey(k), v, len(frame), got)
				}
			}
		}
	}
}
