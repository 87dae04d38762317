package minikraft_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/log"
)

// BenchmarkTransactionCommit is the broker's own cost of one transaction as the bench's
// -transactions mode drives it (issue 14): a transactional Produce v12 of 10 records of 100 B
// over 3 partitions (acks=all), then EndTxn v5 commit, both served in process through the node's
// Mux (no socket), on one node. It covers the coordinator, the __transaction_state appends, the
// markers and the partitions' logs; allocs/op is per transaction.
//
//	go test -run '^$' -bench BenchmarkTransactionCommit -benchmem -count 6 .
func BenchmarkTransactionCommit(b *testing.B) {
	c := minikraft.NewCluster(b, 1, benchDir(b))
	node := c.Node(0)
	ctx := context.Background()
	const topic, listener = "txbench", "PLAINTEXT"
	admin := benchClient(b, c.Addrs())
	defer admin.Close()
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 3, 1
	ct.Topics, ct.TimeoutMillis = []kmsg.CreateTopicsRequestTopic{rt}, 30000
	if _, err := ct.RequestWith(ctx, admin); err != nil {
		b.Fatal(err)
	}
	// A transactional client finds the coordinator (creating __transaction_state) and
	// initializes the producer id; the benchmark then speaks for it.
	id := "txbench"
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{id}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version, ip.TransactionalID, ip.TransactionTimeoutMillis = 5, &id, 60000
	var pid int64
	var epoch int16
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := fc.RequestWith(ctx, admin); err != nil {
			b.Fatal(err)
		}
		resp, err := node.Mux().Call(ctx, listener, ip)
		if err != nil {
			b.Fatal(err)
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		if r.ErrorCode == 0 {
			pid, epoch = r.ProducerID, r.ProducerEpoch
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("InitProducerId: %d", r.ErrorCode)
		}
	}

	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks, produce.TimeoutMillis, produce.TransactionID = 12, -1, 30000, &id
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	for p := range int32(3) {
		n := 3
		if p == 0 {
			n = 4 // 10 records over 3 partitions
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		recs := make([]log.KeyValue, n)
		for i := range recs {
			recs[i].Value = make([]byte, 100)
		}
		rp.Records = transactional(log.EncodeBatch(recs, time.Now().UnixMilli()))
		pt.Partitions = append(pt.Partitions, rp)
	}
	produce.Topics = []kmsg.ProduceRequestTopic{pt}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.Commit = 5, id, pid, true

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, rp := range produce.Topics[0].Partitions {
			log.SetProducer(rp.Records, pid, epoch, 0) // each epoch starts at sequence 0
		}
		resp, err := node.Mux().Call(ctx, listener, produce)
		if err != nil {
			b.Fatal(err)
		}
		for _, sp := range resp.(*kmsg.ProduceResponse).Topics[0].Partitions {
			if sp.ErrorCode != 0 {
				b.Fatalf("produce to partition %d: error %d", sp.Partition, sp.ErrorCode)
			}
		}
		end.ProducerEpoch = epoch
		resp, err = node.Mux().Call(ctx, listener, end)
		if err != nil {
			b.Fatal(err)
		}
		r := resp.(*kmsg.EndTxnResponse)
		if r.ErrorCode != 0 {
			b.Fatalf("EndTxn: error %d", r.ErrorCode)
		}
		pid, epoch = r.ProducerID, r.ProducerEpoch
		if pid != end.ProducerID {
			end.ProducerID = pid
		}
	}
	b.StopTimer()
	checkCommitted(ctx, b, c, topic, b.N)
}

// transactional sets a batch's transactional attribute; log.SetProducer, called per transaction,
// sets the producer fields and recomputes the CRC.
func transactional(batch []byte) []byte {
	const attrs, attrTransactional = 21, 0x10
	binary.BigEndian.PutUint16(batch[attrs:], binary.BigEndian.Uint16(batch[attrs:])|attrTransactional)
	return batch
}

// checkCommitted reads topic read_committed and fails unless it holds the 10 records of each of
// n committed transactions.
func checkCommitted(ctx context.Context, b *testing.B, c *minikraft.Cluster, topic string, n int) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cl := benchClient(b, c.Addrs(), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	for got := 0; got < 10*n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("read_committed: %d of %d records: %v", got, 10*n, err)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatal(fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
		got += fs.NumRecords()
	}
}
