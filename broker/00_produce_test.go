package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/wire"
)

// startNode starts a one-node cluster on loopback ports and waits until it serves clients.
func startNode(t *testing.T) (*Broker, string) {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with extra broker properties.
func startNodeWith(t *testing.T, extra map[string]string) (*Broker, string) {
	t.Helper()
	lns := map[string]net.Listener{}
	for _, name := range []string{"PLAINTEXT", "CONTROLLER"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[name] = ln
	}
	props := map[string]string{
		"node.id":                   "0",
		"process.roles":             "broker,controller",
		"listeners":                 fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", lns["PLAINTEXT"].Addr(), lns["CONTROLLER"].Addr()),
		"controller.listener.names": "CONTROLLER",
		"controller.quorum.voters":  "0@" + lns["CONTROLLER"].Addr().String(),
		"log.dirs":                  filepath.Join(t.TempDir(), "data"),
		config.ClusterIDProp:        "produce-test-cluster-0",
	}
	maps.Copy(props, extra)
	bc, _, err := config.FromProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Broker: bc, Listeners: lns, Raft: RaftTimeouts{
		Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond,
		LeaderLease: 100 * time.Millisecond, Commit: 5 * time.Millisecond,
	}})
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b, lns["PLAINTEXT"].Addr().String()
}

// recordValue is the value of record i of producer round r: distinct bytes for every record, so
// a stored record overwritten by a later request's bytes cannot go unnoticed.
func recordValue(r, i, size int) []byte {
	v := make([]byte, size)
	for j := 0; j < size; j += 8 {
		binary.BigEndian.PutUint64(v[j:], uint64(r)<<48|uint64(i)<<24|uint64(j))
	}
	return v
}

// Produce request frames are recycled (wire.Mux.RecycleFrames): a request is read into the
// memory of an earlier one. Large requests (pooled frames start above 32 KiB), acks=all and
// acks=1, idempotent and not, go through one connection after another; every record must read
// back exactly as written, so nothing the broker kept refers to a frame that was reused.
func TestProduceRecycledFramesKeepRecords(t *testing.T) {
	_, addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const topic, partitions = "recycle", 3
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	// Rounds of one record per request, sent one after the other, have frames of one size class,
	// so each request is read into the frame of the one before; the lingered round mixes sizes.
	rounds := []struct {
		size, n int
		sync    bool // wait for each record before sending the next
		opts    []kgo.Opt
	}{
		{size: 40 << 10, n: 50, sync: true},
		{size: 200, n: 20_000, opts: []kgo.Opt{kgo.ProducerLinger(20 * time.Millisecond)}},
		{size: 40 << 10, n: 50, sync: true, opts: []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{size: 5000, n: 2000, opts: []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
	}
	want := map[string][]byte{} // by key
	for r, round := range rounds {
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(addr),
			kgo.DefaultProduceTopic(topic),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		}, round.opts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
		)
		for i := range round.n {
			key := fmt.Sprintf("r%d-%d", r, i)
			val := recordValue(r, i, round.size)
			want[key] = val
			rec := &kgo.Record{Key: []byte(key), Value: val}
			if round.sync {
				if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
					t.Fatalf("round %d: %v", r, err)
				}
				continue
			}
			wg.Add(1)
			cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		cl.Close()
		if firstErr != nil {
			t.Fatalf("round %d: %v", r, firstErr)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for total := len(want); len(want) > 0; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", total-len(want), total, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(rec *kgo.Record) {
			w, ok := want[string(rec.Key)]
			switch {
			case !ok:
				t.Fatalf("unexpected or duplicated record %q at %d/%d", rec.Key, rec.Partition, rec.Offset)
			case !bytes.Equal(rec.Value, w):
				t.Fatalf("record %q at %d/%d: value differs from what was produced", rec.Key, rec.Partition, rec.Offset)
			}
			delete(want, string(rec.Key))
		})
	}
}

// BenchmarkHandleProduce is the produce handler's own cost for a request like franz-go's under
// load: one batch for each of 6 partitions, acks=all, on a single-replica topic, so every
// partition settles at append time. The logs are in a temporary directory, opened by the replica
// manager as for a real topic; the record validation (log.ValidateBatches) is part of the figure.
func BenchmarkHandleProduce(b *testing.B) {
	const topic, partitions, records = "t", 6, 10
	br := fetchBroker(b, 0)
	for i := range int32(partitions) {
		addPartition(b, br, topic, i, 0, 1)
	}

	recs := make([]log.KeyValue, records)
	for i := range recs {
		recs[i] = log.KeyValue{Key: fmt.Appendf(nil, "key-%d", i), Value: bytes.Repeat([]byte{byte(i)}, 100)}
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 30_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	seqs := make([]int32, partitions)
	for i := range int32(partitions) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = i
		rp.Records = idempotentBatch(log.EncodeBatch(recs, time.Now().UnixMilli()), 1000+int64(i), 0)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	wr := &wire.Request{Key: 0, Version: req.Version, Msg: req}
	ctx := context.Background()

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := range rt.Partitions {
			log.SetProducer(rt.Partitions[i].Records, 1000+int64(i), 0, seqs[i])
			seqs[i] += records
		}
		resp, err := br.handleProduce(ctx, wr)()
		if err != nil {
			b.Fatal(err)
		}
		for _, sp := range resp.(*kmsg.ProduceResponse).Topics[0].Partitions {
			if sp.ErrorCode != 0 {
				b.Fatalf("partition %d: error %d", sp.Partition, sp.ErrorCode)
			}
		}
	}
}

// idempotentBatch turns a log.EncodeBatch result into a batch of producer pid, epoch 0, starting
// at sequence seq.
func idempotentBatch(batch []byte, pid int64, seq int32) []byte {
	log.SetProducer(batch, pid, 0, seq)
	return batch
}
