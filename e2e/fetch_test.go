package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Issue 20: Fetch by Kafka's rules. Errors end the long poll, sessionless full fetches (epoch -1)
// are answered in full, and fetch sessions (KIP-227) serve clients that use them.

// produceN writes n records "p<partition>-<i>" to each listed partition of topic, acks=all.
func produceN(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, n int, start int, parts ...int32) {
	t.Helper()
	var rs []*kgo.Record
	for _, p := range parts {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, start+i)})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// topicOnSingle starts a one-node cluster with a topic of parts partitions and returns a client
// that produces to the partition each record names.
func topicOnSingle(t *testing.T, topic string, parts int32) (*node, context.Context, *kgo.Client) {
	t.Helper()
	n := startSingle(t)
	ctx := testContext(t)
	cl := newClient(t, n.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	return n, ctx, cl
}

// TestKafkaGoConnOutOfRangeIsAnsweredAtOnce: a kafka-go Conn seeked past the end (without the
// check) reads OFFSET_OUT_OF_RANGE at once, not after its whole MaxWait (the read deadline).
func TestKafkaGoConnOutOfRangeIsAnsweredAtOnce(t *testing.T) {
	n, ctx, cl := topicOnSingle(t, "oor", 1)
	produceN(t, ctx, cl, "oor", 10, 0, 0)
	conn, err := kafka.DialLeader(ctx, "tcp", n.addr, "oor", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Seek(42, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		t.Fatal(err)
	}
	// kafka-go derives MaxWait from the deadline: about 20 s here.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	_, err = conn.ReadMessage(1 << 20)
	took := time.Since(start)
	if !errors.Is(err, kafka.OffsetOutOfRange) {
		t.Fatalf("read past the end: %v, want OFFSET_OUT_OF_RANGE", err)
	}
	t.Logf("OFFSET_OUT_OF_RANGE after %v", took)
	if took > 5*time.Second {
		t.Fatalf("OFFSET_OUT_OF_RANGE took %v: the broker waited out MaxWait", took)
	}
}

// TestKafkaGoClientFetchIsAFullFetch: kafka-go's Client.Fetch sends SessionID -1 and
// SessionEpoch -1 (FINAL): a sessionless full fetch, answered with the partition's records.
func TestKafkaGoClientFetchIsAFullFetch(t *testing.T) {
	n, ctx, cl := topicOnSingle(t, "full", 1)
	produceN(t, ctx, cl, "full", 500, 0, 0)
	kc := &kafka.Client{Addr: kafka.TCP(n.addr), Timeout: 30 * time.Second}
	var got []string
	for offset := int64(0); len(got) < 500; {
		res, err := kc.Fetch(ctx, &kafka.FetchRequest{Topic: "full", Partition: 0, Offset: offset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil {
			t.Fatalf("fetch at %d: %v", offset, res.Error)
		}
		if res.HighWatermark != 500 {
			t.Fatalf("high watermark %d, want 500", res.HighWatermark)
		}
		for {
			r, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Offset >= offset {
				v, _ := io.ReadAll(r.Value)
				got = append(got, string(v))
				offset = r.Offset + 1
			}
		}
	}
	for i, v := range got {
		if want := fmt.Sprintf("p0-%d", i); v != want {
			t.Fatalf("record %d is %q, want %q", i, v, want)
		}
	}
}

// TestFranzSessionsManyPartitions: franz-go consumes with fetch sessions. A consumer of 200
// partitions reads them all, then rounds of records arrive on a few partitions at a time; every
// record must arrive once and in order, and after the first fetch the consumer's requests must be
// incremental (small), which they are only if the broker kept its session.
func TestFranzSessionsManyPartitions(t *testing.T) {
	const parts = 200
	n, ctx, pcl := topicOnSingle(t, "many", parts)
	all := make([]int32, parts)
	for i := range all {
		all[i] = int32(i)
	}
	produceN(t, ctx, pcl, "many", 1, 0, all...)

	sizes := &fetchSizes{}
	cons := newClient(t, n.addr, kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.WithHooks(sizes))
	next := make(map[int32]int) // per partition, the next record number expected
	consume := func(want int) {
		t.Helper()
		for got := 0; got < want; {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if exp := fmt.Sprintf("p%d-%d", r.Partition, next[r.Partition]); string(r.Value) != exp {
					t.Fatalf("partition %d offset %d: %q, want %q", r.Partition, r.Offset, r.Value, exp)
				}
				next[r.Partition]++
				got++
			})
		}
	}
	consume(parts)
	for round := range 10 {
		few := []int32{int32(round * 7 % parts), int32((round*13 + 5) % parts), 199}
		produceN(t, ctx, pcl, "many", 3, next[few[0]], few[0])
		produceN(t, ctx, pcl, "many", 2, next[few[1]], few[1])
		produceN(t, ctx, pcl, "many", 1, next[few[2]], few[2])
		consume(6)
	}
	// Nothing more must come.
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if fs := cons.PollFetches(pctx); fs.NumRecords() != 0 {
		t.Fatalf("%d records more than were produced", fs.NumRecords())
	}
	first, rest := sizes.get()
	reqs := append([]int{first}, rest...)
	if len(reqs) < 8 {
		t.Fatalf("only %d fetches", len(reqs))
	}
	// The full request names all 200 partitions. Before it franz-go may send a smaller one (it
	// knew only some partitions yet), and right after it one naming every partition again is
	// legitimate (all 200 fetch offsets moved with the first records). Every other request of a
	// session names only what changed; without sessions each would name all 200.
	full := slices.Max(reqs)
	small := 0
	for _, s := range reqs {
		if s < full/4 {
			small++
		}
	}
	t.Logf("largest fetch request %d bytes; %d of %d requests under a quarter of it: %v", full, small, len(reqs), reqs)
	if small < (len(reqs)-3)*3/4 {
		t.Fatalf("fetch requests stay large (%v, largest %d): no incremental session", reqs, full)
	}
}

// fetchSizes records the bytes of every Fetch request a franz-go client writes.
type fetchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (f *fetchSizes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key != 1 || err != nil {
		return
	}
	f.mu.Lock()
	f.sizes = append(f.sizes, n)
	f.mu.Unlock()
}

func (f *fetchSizes) get() (first int, rest []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sizes) == 0 {
		return 0, nil
	}
	return f.sizes[0], append([]int(nil), f.sizes[1:]...)
}

var _ kgo.HookBrokerWrite = (*fetchSizes)(nil)

// TestKcatConsumesManyPartitionsAndResets: librdkafka (which sends sessionless full fetches)
// reads a many-partition topic whose data sits in a few partitions, and a consumer started past
// the end of a partition hears OFFSET_OUT_OF_RANGE and resets to the start.
func TestKcatConsumesManyPartitionsAndResets(t *testing.T) {
	n, ctx, cl := topicOnSingle(t, "rdk", 50)
	produceN(t, ctx, cl, "rdk", 20, 0, 3, 17, 49)
	out := kcat(t, nil, "-b", n.addr, "-C", "-t", "rdk", "-o", "beginning", "-e", "-q", "-f", "%p:%s\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 60 {
		t.Fatalf("kcat read %d records, want 60:\n%s", len(lines), out)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for _, p := range []int{3, 17, 49} {
		for i := range 20 {
			if l := fmt.Sprintf("%d:p%d-%d", p, p, i); !seen[l] {
				t.Fatalf("record %q missing", l)
			}
		}
	}
	start := time.Now()
	out = kcat(t, nil, "-b", n.addr, "-C", "-t", "rdk", "-p", "3", "-o", "42", "-e", "-q",
		"-X", "auto.offset.reset=earliest", "-f", "%o\n")
	if got := strings.Count(out, "\n"); got != 20 {
		t.Fatalf("after the reset kcat read %d records, want 20:\n%s", got, out)
	}
	t.Logf("kcat reset from offset 42 and read 20 records in %v", time.Since(start))
}
