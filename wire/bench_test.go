package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/internal/testcert"
)

// benchPartitions and benchPartitionBytes are what the end-to-end benchmark's clients send and
// receive: six partitions with about a megabyte of record batches each.
const (
	benchPartitions     = 6
	benchPartitionBytes = 1 << 20
)

// benchConn serves mux on a loopback listener and returns a client connection to it.
func benchConn(b *testing.B, mux *Mux) net.Conn { return benchConnWith(b, mux, nil) }

// benchConnWith is benchConn with an Observer on the server (none if nil).
func benchConnWith(b *testing.B, mux *Mux, obs RequestObserver) net.Conn {
	b.Helper()
	cfg := ServerConfig{MaxFirstRequestBytes: DefaultMaxRequestBytes}
	if obs != nil {
		cfg.Observer = obs
	}
	s := NewServer(mux, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(ln, "PLAINTEXT") }()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = nc.Close()
		_ = s.Close()
	})
	return nc
}

// benchRoundTrips writes frame and reads its response b.N times, reusing one response buffer so
// that the client's own cost is only the socket copies.
func benchRoundTrips(b *testing.B, nc net.Conn, frame []byte, bytesPerOp int) {
	b.Helper()
	br := bufio.NewReaderSize(nc, 64<<10)
	var resp []byte
	read := func() {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			b.Fatal(err)
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if cap(resp) < n {
			resp = make([]byte, n)
		}
		if _, err := io.ReadFull(br, resp[:n]); err != nil {
			b.Fatal(err)
		}
	}
	// One warm-up round trip, so that the connection's buffers are settled.
	if _, err := nc.Write(frame); err != nil {
		b.Fatal(err)
	}
	read()
	b.SetBytes(int64(bytesPerOp))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := nc.Write(frame); err != nil {
			b.Fatal(err)
		}
		read()
	}
}

// BenchmarkServeProduce sends Produce requests of 6 partitions × 1 MiB over loopback TCP to a
// handler that answers at once, as acks=1 would after the append.
func BenchmarkServeProduce(b *testing.B) { benchServeProduce(b, false) }

// BenchmarkServeProduceRecycled is BenchmarkServeProduce with Mux.RecycleFrames for Produce.
func BenchmarkServeProduceRecycled(b *testing.B) { benchServeProduce(b, true) }

func benchServeProduce(b *testing.B, recycle bool) { benchServeProduceWith(b, recycle, nil) }

func benchServeProduceWith(b *testing.B, recycle bool, obs RequestObserver) {
	mux := NewMux()
	mux.Handle(0, 3, 11, func(_ context.Context, r *Request) Future {
		req := r.Msg.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.BaseOffset = int64(len(rp.Records))
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return Done(resp, nil)
	})
	if recycle {
		mux.RecycleFrames(0)
	}
	frame := encodeRequest(produceReq(benchPartitions, benchPartitionBytes), 9, 1)
	benchRoundTrips(b, benchConnWith(b, mux, obs), frame, len(frame))
}

// BenchmarkServeFetch asks for a Fetch whose response carries 6 partitions × 1 MiB of record
// batches, over loopback TCP. The handler hands out the same record slices each time, as if the
// log had just read them.
func BenchmarkServeFetch(b *testing.B) {
	for _, version := range []int16{11, 13} {
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			benchServeFetch(b, version, benchPartitionBytes, benchConn(b, fetchMux(benchPartitionBytes)))
		})
	}
}

// BenchmarkServeFetchTLS is BenchmarkServeFetch over TLS 1.3 (AES-128-GCM where the CPU has
// AES instructions), with record sets of a caught-up consumer (16 KiB a partition) and of one
// reading from the start (1 MiB): what a SASL_SSL or SSL listener adds to a fetch.
func BenchmarkServeFetchTLS(b *testing.B) {
	ca, err := testcert.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := ca.Issue("broker", "")
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{16 << 10, benchPartitionBytes} {
		b.Run(fmt.Sprintf("partition=%dKiB", size>>10), func(b *testing.B) {
			s := NewServer(fetchMux(size), ServerConfig{MaxFirstRequestBytes: DefaultMaxRequestBytes})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				_ = s.ServeSecure(ln, "SSL", Security{TLS: &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}})
			}()
			nc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				_ = nc.Close()
				_ = s.Close()
			})
			benchServeFetch(b, 13, size, nc)
		})
	}
}

// fetchMux answers every Fetch with benchPartitions record sets of size bytes.
func fetchMux(size int) *Mux {
	records := make([][]byte, benchPartitions)
	for i := range records {
		records[i] = make([]byte, size)
		for j := range records[i] {
			records[i][j] = byte(j * (i + 1))
		}
	}
	mux := NewMux()
	mux.Handle(1, 4, 13, func(_ context.Context, r *Request) Future {
		req := r.Msg.(*kmsg.FetchRequest)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		st := kmsg.NewFetchResponseTopic()
		st.Topic = "orders"
		st.TopicID = [16]byte{1, 2, 3}
		for p, recs := range records {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = int32(p)
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 1e6, 1e6, 0
			sp.RecordBatches = recs
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		return Done(resp, nil)
	})
	return mux
}

// benchServeFetch round-trips a Fetch of every partition over nc.
func benchServeFetch(b *testing.B, version int16, size int, nc net.Conn) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 50 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	ft.TopicID = [16]byte{1, 2, 3}
	for p := range benchPartitions {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = int32(p)
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
	}
	req.Topics = append(req.Topics, ft)
	frame := encodeRequest(req, version, 1)
	benchRoundTrips(b, nc, frame, benchPartitions*size)
}

// BenchmarkReadFrame reads one 6 MiB frame from memory: the framing's own allocation and copying,
// without a socket.
func BenchmarkReadFrame(b *testing.B) {
	payload := make([]byte, benchPartitions*benchPartitionBytes)
	src := append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
	r := &repeatReader{src: src}
	br := bufio.NewReaderSize(r, readBufSize)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		r.off = 0
		br.Reset(r)
		if _, err := readFrame(br, DefaultMaxRequestBytes); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader reads src in chunks of at most 64 KiB, as a socket delivers it.
type repeatReader struct {
	src []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off == len(r.src) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], r.src[r.off:])
	r.off += n
	return n, nil
}
