// The -ideal mode: how fast the franz-go consumer reads when the server costs nothing.
//
// Consume is a chain of round trips: franz-go asks a broker for more only after the previous
// response's records are decoded and buffered. Whether a consume figure is the server's or the
// client's is therefore best told by swapping the server for one that answers at once from
// memory: ideal-server answers every fetch with a prebuilt record batch per partition (patched
// to the fetch offset, its CRC unchanged since the base offset lies before the CRC'd bytes),
// written with one writev, with no log, index, file or validation behind it. Nothing else of
// Kafka is served beyond what a consumer needs (ApiVersions, Metadata, ListOffsets, Fetch v12).
// The mode alternates a minikraft run (produce, then consume from the start) with a consume of
// as many records from ideal-server, and reports both rates and where each fetch's time went.

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idealBatchBytes is franz-go's default ProducerBatchMaxBytes: the ideal server's batches are as
// full as the producer's can be, as minikraft's are at 10 KB and above. Below that the
// producer's batches are smaller than the ideal server's, and the comparison flatters the ideal.
const idealBatchBytes = 1_000_012

func runIdeal(ctx context.Context, o options) error {
	work, bin, self, err := benchWork(ctx, o, "minikraft-bench-ideal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	mk, ideal := map[int][]float64{}, map[int][]float64{}
	// Per size and server, the per-fetch split of every run (see fetchWaits.perFetch), for medians.
	type split struct{ firstByte, reading, between []float64 }
	splits := map[string]map[int]*split{"minikraft": {}, "ideal": {}}
	note := func(server string, size int, t *fetchWaits) {
		fb, rd, bt, ok := t.perFetch()
		if !ok {
			return
		}
		sp := splits[server][size]
		if sp == nil {
			sp = &split{}
			splits[server][size] = sp
		}
		ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
		sp.firstByte, sp.reading, sp.between = append(sp.firstByte, ms(fb)), append(sp.reading, ms(rd)), append(sp.between, ms(bt))
	}
	for rep := 0; rep < o.repeat; rep++ {
		for _, size := range o.sizes {
			dir := filepath.Join(work, fmt.Sprint("run-", rep, "-", size))
			var mt, it fetchWaits
			m, n, err := idealMinikraftOnce(ctx, bin, dir, size, o, &mt)
			if err != nil {
				return fmt.Errorf("minikraft %s: %w", sizeLabel(size), err)
			}
			i, err := idealOnce(ctx, self, dir, size, n, o, &it)
			if err != nil {
				return fmt.Errorf("ideal server %s: %w", sizeLabel(size), err)
			}
			note("minikraft", size, &mt)
			note("ideal", size, &it)
			fmt.Fprintf(os.Stderr, "repeat %d/%d %s: consume minikraft %.1f MB/s, ideal server %.1f MB/s\n", rep+1, o.repeat, sizeLabel(size), m, i)
			mk[size], ideal[size] = append(mk[size], m), append(ideal[size], i)
			os.RemoveAll(dir)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Consume from the start: minikraft against a server that answers from memory (median of %d alternating runs)\n\n", o.repeat)
	b.WriteString("| value size | minikraft MB/s | ideal server MB/s | minikraft / ideal |\n|---|--:|--:|--:|\n")
	for _, size := range o.sizes {
		m, i := middle(mk[size]), middle(ideal[size])
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f |\n", sizeLabel(size), m, i, m/i)
	}
	fmt.Fprintf(&b, "\nThe ideal server's batches are %d bytes (franz-go's largest); minikraft serves the producer's, which are that full at 10 KB but smaller below, so there the ideal's lead is partly bigger batches.\n", idealBatchBytes)
	b.WriteString("\nWhere a fetch's time goes, in ms, mean per fetch (medians over the runs): from the request's write to the response's first byte (the server answering), reading the rest of the response (the transfer), and the client's own work before its next request (decoding and buffering the records).\n\n")
	b.WriteString("| value size | server | first byte | reading | client between fetches |\n|---|---|--:|--:|--:|\n")
	for _, size := range o.sizes {
		for _, server := range []string{"minikraft", "ideal"} {
			if sp := splits[server][size]; sp != nil {
				fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %.3f |\n", sizeLabel(size), server, middle(sp.firstByte), middle(sp.reading), middle(sp.between))
			}
		}
	}
	fmt.Print(b.String())
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, "ideal.md"), []byte(b.String()), 0o644)
}

// idealMinikraftOnce produces to a fresh node for o.duration and consumes it all; it returns the
// consume rate and the records read.
func idealMinikraftOnce(ctx context.Context, bin, dir string, size int, o options, times *fetchWaits) (float64, int64, error) {
	s, err := startMinikraft(bin, dir)
	if err != nil {
		return 0, 0, err
	}
	defer s.stop()
	if err := s.waitListening(ctx); err != nil {
		return 0, 0, err
	}
	if err := waitWritable(ctx, s.addrs); err != nil {
		return 0, 0, err
	}
	if err := createTopics(ctx, s.addrs, o.partitions, 1, []string{"ideal"}); err != nil {
		return 0, 0, err
	}
	_, n, err := producePhase(ctx, s.addrs, "ideal", size, o.duration)
	if err != nil {
		return 0, 0, err
	}
	r, err := consumePhase(ctx, s.addrs, "ideal", n, 2*o.duration, times)
	return r.mbps, n, err
}

// idealOnce consumes n records of size bytes from a fresh ideal-server.
func idealOnce(ctx context.Context, self, dir string, size int, n int64, o options, times *fetchWaits) (float64, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	s, err := launch(dir, []string{"127.0.0.1:" + strconv.Itoa(port)}, self, "ideal-server",
		"-port", strconv.Itoa(port), "-value", strconv.Itoa(size), "-partitions", strconv.Itoa(int(o.partitions)))
	if err != nil {
		return 0, err
	}
	defer s.stop()
	if err := s.waitListening(ctx); err != nil {
		return 0, err
	}
	r, err := consumePhase(ctx, s.addrs, "ideal", n, 2*o.duration, times)
	return r.mbps, err
}

// idealServer is the ideal-server subcommand.
func idealServer(args []string) int {
	fs := flag.NewFlagSet("ideal-server", flag.ContinueOnError)
	port := fs.Int("port", 0, "listen port on 127.0.0.1")
	value := fs.Int("value", 10000, "record value size")
	parts := fs.Int("partitions", 6, "partitions of every topic")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ideal-server:", err)
		return 1
	}
	batch := idealBatch(*value)
	for {
		c, err := ln.Accept()
		if err != nil {
			return 0
		}
		// Each connection patches its own copies: its fetches are serial.
		bufs := make([][]byte, *parts)
		for i := range bufs {
			bufs[i] = append([]byte(nil), batch...)
		}
		go idealServe(c, int32(*parts), bufs)
	}
}

// idealBatch is an uncompressed batch of as many records of size-byte values as fit in
// idealBatchBytes, base offset 0, with its CRC.
func idealBatch(size int) []byte {
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i * 31)
	}
	var recs []byte
	n := 0
	for ; 61+len(recs)+size+16 <= idealBatchBytes || n == 0; n++ {
		body := []byte{0} // attributes
		body = binary.AppendVarint(body, 0)
		body = binary.AppendVarint(body, int64(n))
		body = binary.AppendVarint(body, -1) // null key
		body = binary.AppendVarint(body, int64(size))
		body = append(body, val...)
		body = binary.AppendVarint(body, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, 61, 61+len(recs))
	binary.BigEndian.PutUint32(b[8:], uint32(49+len(recs))) // length after itself
	b[16] = 2                                               // magic
	binary.BigEndian.PutUint32(b[23:], uint32(n-1))         // last offset delta
	binary.BigEndian.PutUint64(b[35:], ^uint64(0))          // producer id -1
	binary.BigEndian.PutUint16(b[43:], 0xffff)              // producer epoch -1
	binary.BigEndian.PutUint32(b[45:], 0xffffffff)          // base sequence -1
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func idealServe(c net.Conn, parts int32, bufs [][]byte) {
	defer c.Close()
	br := bufio.NewReader(c)
	var size [4]byte
	for {
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(br, body); err != nil || len(body) < 8 {
			return
		}
		key, version := int16(binary.BigEndian.Uint16(body)), int16(binary.BigEndian.Uint16(body[2:]))
		req := kmsg.RequestForKey(key)
		if req == nil {
			return
		}
		req.SetVersion(version)
		r := kbin.Reader{Src: body[8:]}
		r.NullableString() // client id
		if req.IsFlexible() {
			kmsg.SkipTags(&r)
		}
		if r.Complete() != nil || req.ReadFrom(r.Src) != nil {
			return
		}
		head := binary.BigEndian.AppendUint32(make([]byte, 4, 4096), binary.BigEndian.Uint32(body[4:]))
		if req.IsFlexible() && key != 18 { // ApiVersions answers with the old header
			head = append(head, 0)
		}
		var vec net.Buffers
		if f, ok := req.(*kmsg.FetchRequest); ok {
			vec = idealFetch(head, f, bufs)
		} else if resp := idealAnswer(req, c.LocalAddr().(*net.TCPAddr), parts); resp != nil {
			vec = net.Buffers{resp.AppendTo(head)}
		} else {
			return
		}
		total := 0
		for _, v := range vec {
			total += len(v)
		}
		binary.BigEndian.PutUint32(vec[0], uint32(total-4))
		if _, err := vec.WriteTo(c); err != nil {
			return
		}
	}
}

// idealAnswer answers what a consumer asks before it fetches.
func idealAnswer(req kmsg.Request, self *net.TCPAddr, parts int32) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
		for _, k := range [][3]int16{{1, 4, 12}, {2, 1, 7}, {3, 1, 12}, {18, 0, 3}} {
			v := kmsg.NewApiVersionsResponseApiKey()
			v.ApiKey, v.MinVersion, v.MaxVersion = k[0], k[1], k[2]
			resp.ApiKeys = append(resp.ApiKeys, v)
		}
		return resp
	case *kmsg.MetadataRequest:
		resp := r.ResponseKind().(*kmsg.MetadataResponse)
		b := kmsg.NewMetadataResponseBroker()
		b.Host, b.Port = self.IP.String(), int32(self.Port)
		resp.Brokers = append(resp.Brokers, b)
		for _, rt := range r.Topics {
			t := kmsg.NewMetadataResponseTopic()
			t.Topic = rt.Topic
			for p := range parts {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition, mp.Replicas, mp.ISR = p, []int32{0}, []int32{0}
				t.Partitions = append(t.Partitions, mp)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		// Every partition starts at 0 and never ends: latest (-1) is idealEnd, earliest (-2)
		// and any timestamp 0.
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(r.Topics))
		for i := range r.Topics {
			rps := r.Topics[i].Partitions
			resp.Topics[i].Topic = r.Topics[i].Topic
			resp.Topics[i].Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rps))
			for j := range rps {
				p := &resp.Topics[i].Partitions[j]
				p.Default()
				p.Partition, p.Offset = rps[j].Partition, 0
				if rps[j].Timestamp == -1 {
					p.Offset = idealEnd
				}
			}
		}
		return resp
	}
	return nil
}

// idealEnd is every partition's high watermark: never reached.
const idealEnd = 1 << 50

// idealFetch writes a v12 FetchResponse after head: every partition gets its batch, patched to
// the fetch offset and sent from its own buffer, not copied.
func idealFetch(head []byte, f *kmsg.FetchRequest, bufs [][]byte) net.Buffers {
	out := head
	var vec net.Buffers
	out = kbin.AppendInt32(out, 0) // throttle
	out = kbin.AppendInt16(out, 0) // error
	out = kbin.AppendInt32(out, 0) // no session
	out = kbin.AppendCompactArrayLen(out, len(f.Topics))
	for _, t := range f.Topics {
		out = kbin.AppendCompactString(out, t.Topic)
		out = kbin.AppendCompactArrayLen(out, len(t.Partitions))
		for _, p := range t.Partitions {
			out = kbin.AppendInt32(out, p.Partition)
			if p.Partition < 0 || int(p.Partition) >= len(bufs) {
				out = kbin.AppendInt16(out, 3) // UNKNOWN_TOPIC_OR_PARTITION
				out = kbin.AppendInt64(out, -1)
				out = kbin.AppendInt64(out, -1)
				out = kbin.AppendInt64(out, -1)
				out = append(out, 0)            // no aborted transactions
				out = kbin.AppendInt32(out, -1) // preferred read replica
				out = append(out, 0, 0)         // null records, no tags
				continue
			}
			out = kbin.AppendInt16(out, 0)
			out = kbin.AppendInt64(out, idealEnd) // high watermark
			out = kbin.AppendInt64(out, idealEnd) // last stable offset
			out = kbin.AppendInt64(out, 0)        // log start
			out = append(out, 0)                  // no aborted transactions
			out = kbin.AppendInt32(out, -1)       // preferred read replica
			b := bufs[p.Partition]
			binary.BigEndian.PutUint64(b, uint64(p.FetchOffset))
			out = kbin.AppendUvarint(out, uint32(len(b)+1))
			vec = append(vec, out, b)
			out = []byte{0} // partition tags
		}
		out = append(out, 0) // topic tags
	}
	return append(vec, append(out, 0)) // response tags
}
