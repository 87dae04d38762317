package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/wire"
)

// TestProduceVerifiesTransactions (KIP-890 part 1): a transactional batch that would open a
// transaction on a partition its producer never added is refused with INVALID_TXN_STATE, so it
// cannot leave a transaction that nothing ends (and the last stable offset stuck behind it);
// once AddPartitionsToTxn added the partition the same batch is accepted, later batches of the
// transaction need no check, and after the commit the partition is no longer in the
// transaction. Both ways the leader asks: in-process when it coordinates the transactional id,
// and with AddPartitionsToTxn v4 to another node's coordinator.
func TestProduceVerifiesTransactions(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.WithConfig("transaction.state.log.num.partitions", "3"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "vt"); err != nil {
		t.Fatal(err)
	}
	leader := int32(-1)
	for leader < 0 {
		md, err := adm.Metadata(ctx, "vt")
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := md.Topics["vt"].Partitions[0]; ok && p.Err == nil {
			leader = p.Leader
		}
		if ctx.Err() != nil {
			t.Fatal("no leader for vt-0")
		}
	}

	// One transactional id coordinated by the partition's leader, one by another node.
	any0 := dialNode(t, c, 0)
	ids := map[bool]string{}
	for i := 0; len(ids) < 2 && i < 64; i++ {
		id := fmt.Sprintf("verify-%d", i)
		local := findTxnCoordinator(ctx, t, any0, id) == leader
		if _, ok := ids[local]; !ok {
			ids[local] = id
		}
	}
	if len(ids) < 2 {
		t.Fatalf("no pair of transactional ids coordinated by node %d and by another: %v", leader, ids)
	}

	lc := dialNode(t, c, int(leader))
	for _, local := range []bool{true, false} {
		id := ids[local]
		t.Run(fmt.Sprintf("coordinator-local=%v", local), func(t *testing.T) {
			coord := dialNode(t, c, int(findTxnCoordinator(ctx, t, any0, id)))
			pid, epoch := initTxnProducer(ctx, t, coord, id)
			produce := func(seq int32) int16 {
				return produceTxn(ctx, t, lc, id, "vt", txnBatch(pid, epoch, seq, "v"))
			}
			if code := produce(0); code != kerr.InvalidTxnState.Code {
				t.Fatalf("produce to a partition not in the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
			}
			add := kmsg.NewPtrAddPartitionsToTxnRequest()
			add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, pid, epoch
			add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "vt", Partitions: []int32{0}}}
			if code := request[*kmsg.AddPartitionsToTxnResponse](ctx, t, coord, add).Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
			}
			for seq := range int32(2) {
				if code := produce(seq); code != 0 {
					t.Fatalf("produce seq %d after AddPartitionsToTxn: %v", seq, kerr.ErrorForCode(code))
				}
			}
			end := kmsg.NewPtrEndTxnRequest()
			end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, pid, epoch, true
			if code := request[*kmsg.EndTxnResponse](ctx, t, coord, end).ErrorCode; code != 0 {
				t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
			}
			// The marker reaches the partition after EndTxn answers; until then a batch would
			// still join the open transaction there (and be committed with it).
			deadline := time.Now().Add(30 * time.Second)
			for txnStart(ctx, t, lc, "vt", pid) >= 0 {
				if time.Now().After(deadline) {
					t.Fatal("the commit marker did not reach vt-0")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Until the coordinator has written CompleteCommit it answers CONCURRENT_TRANSACTIONS,
			// which the leader passes on as the retriable NOT_ENOUGH_REPLICAS.
			code := produce(2)
			for code == kerr.NotEnoughReplicas.Code && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				code = produce(2)
			}
			if code != kerr.InvalidTxnState.Code {
				t.Fatalf("produce after the commit, without AddPartitionsToTxn: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
			}
		})
	}
}

// txnStart is DescribeProducers' CurrentTxnStartOffset of producer pid on partition 0 of topic
// (-1: no open transaction).
func txnStart(ctx context.Context, t *testing.T, cl *wire.Client, topic string, pid int64) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	rp := request[*kmsg.DescribeProducersResponse](ctx, t, cl, req).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 {
		t.Fatalf("DescribeProducers: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	for _, st := range rp.ActiveProducers {
		if st.ProducerID == pid {
			return st.CurrentTxnStartOffset
		}
	}
	return -1
}

// initTxnProducer sends InitProducerId for id to its coordinator until it answers.
func initTxnProducer(ctx context.Context, t *testing.T, coord *wire.Client, id string) (int64, int16) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, &id, 60000
		r := request[*kmsg.InitProducerIDResponse](ctx, t, coord, req)
		if r.ErrorCode == 0 {
			return r.ProducerID, r.ProducerEpoch
		}
		if e := kerr.ErrorForCode(r.ErrorCode); !kerr.IsRetriable(e) || time.Now().After(deadline) {
			t.Fatalf("InitProducerId: %v", e)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// produceTxn writes one batch to partition 0 of topic with acks=all and returns its error code.
func produceTxn(ctx context.Context, t *testing.T, cl *wire.Client, id, topic string, batch []byte) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = 9, -1, 10000, &id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{rp}}}
	return request[*kmsg.ProduceResponse](ctx, t, cl, req).Topics[0].Partitions[0].ErrorCode
}

// txnBatch is a transactional batch of one record from producer pid at epoch and sequence seq.
func txnBatch(pid int64, epoch int16, seq int32, value string) []byte {
	b := log.EncodeBatch([]log.KeyValue{{Value: []byte(value)}}, time.Now().UnixMilli())
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10) // transactional
	log.SetProducer(b, pid, epoch, seq)                                      // recomputes the CRC
	return b
}
