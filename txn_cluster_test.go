package minikraft_test

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/log"
)

// txnRecords is a batch of values from producer pid (epoch 0) at base sequence seq, transactional
// when txn is set.
func txnRecords(pid int64, seq int32, txn bool, values ...string) []byte {
	kvs := make([]log.KeyValue, len(values))
	for i, v := range values {
		kvs[i] = log.KeyValue{Value: []byte(v)}
	}
	b := log.EncodeBatch(kvs, time.Now().UnixMilli())
	if txn {
		binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
	}
	log.SetProducer(b, pid, 0, seq)
	return b
}

// TestTransactionsSurviveLeaderChange: transactions written to a three-replica partition (one
// committed, one aborted, one left open) look the same to read_committed consumers after the
// leader shuts down: the new leader learned the open transaction and the aborted-transaction
// index from what it replicated, holds the last stable offset at the open transaction, and ends
// it when the coordinator's marker arrives.
func TestTransactionsSurviveLeaderChange(t *testing.T) {
	// The transactional batches are written by hand, for no coordinator to verify (KIP-890).
	c := minikraft.NewCluster(t, 3, minikraft.WithConfig("transaction.partition.verification.enable", "false"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Produce v12 would add the partition to the producer's transaction whatever the setting
	// (transaction version 2): stay at v11, where the setting turns the coordinator's check off.
	maxVersions := kversion.Stable()
	maxVersions.SetMaxKeyVersion(0, 11)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.MaxVersions(maxVersions))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const topic = "txn3"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, topic); err != nil {
		t.Fatal(err)
	}
	leaderOf := func() int32 { // as a running node sees it
		for i := range 3 {
			if b := c.Node(i); b != nil {
				return b.Meta().State().Partition(topic, 0).Leader
			}
		}
		return -1
	}
	var pids []int64
	for range 3 {
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("InitProducerID: %v %+v", err, resp)
		}
		pids = append(pids, resp.ProducerID)
	}
	// call sends req to the partition's current leader, retrying while leadership moves.
	call := func(req kmsg.Request, code func(kmsg.Response) int16) {
		t.Helper()
		for {
			resp, err := cl.Broker(int(leaderOf())).Request(ctx, req)
			if err == nil {
				switch ec := code(resp); ec {
				case 0:
					return
				case kerr.NotLeaderForPartition.Code, kerr.NotEnoughReplicas.Code, kerr.UnknownTopicOrPartition.Code:
				default:
					t.Fatalf("%T: %v", req, kerr.ErrorForCode(ec))
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("%T: %v", req, ctx.Err())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	produce := func(txn bool, records []byte) {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		if txn {
			req.TransactionID = kmsg.StringPtr("tx")
		}
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		call(req, func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode })
	}
	marker := func(pid int64, commit bool) {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.CoordinatorEpoch, m.Committed = pid, 1, commit
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		call(req, func(r kmsg.Response) int16 {
			return r.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
		})
	}

	produce(true, txnRecords(pids[0], 0, true, "c1", "c2"))
	produce(true, txnRecords(pids[1], 0, true, "a1"))
	produce(false, txnRecords(-1, -1, false, "p1"))
	marker(pids[0], true)
	marker(pids[1], false)
	produce(true, txnRecords(pids[2], 0, true, "o1"))
	produce(false, txnRecords(-1, -1, false, "p2"))

	old := leaderOf()
	if err := c.StopNode(int(old)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for l := leaderOf(); l == old || l < 0; l = leaderOf() {
		if time.Now().After(deadline) {
			t.Fatalf("no new leader after stopping node %d", old)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var seeds []string
	for i, a := range c.Addrs() {
		if i != int(old) {
			seeds = append(seeds, a)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	poll := func(want []string) {
		t.Helper()
		for !slices.Equal(got, want) {
			if len(got) > len(want) || ctx.Err() != nil {
				t.Fatalf("read_committed read %q, want %q", got, want)
			}
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			pcancel()
		}
	}
	poll([]string{"c1", "c2", "p1"})
	// The open transaction holds the rest back until its marker reaches the new leader.
	marker(pids[2], true)
	poll([]string{"c1", "c2", "p1", "o1", "p2"})
}
