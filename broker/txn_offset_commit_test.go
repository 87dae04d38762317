package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/wire"
)

// txnCommit sends a TxnOffsetCommit v3 of producer pid/epoch for partition p of topic, as a
// simple consumer (generation -1), until the coordinator has loaded the group, and returns the
// partition's error code.
func txnCommit(ctx context.Context, t *testing.T, cl *wire.Client, grp, topic string, p int32, offset, pid int64, epoch int16) int16 {
	t.Helper()
	for {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = 3
		req.TransactionalID = "tx"
		req.Group, req.ProducerID, req.ProducerEpoch = grp, pid, epoch
		req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic,
			Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: p, Offset: offset, LeaderEpoch: -1, Metadata: kmsg.StringPtr("m")}}}}
		r := request[*kmsg.TxnOffsetCommitResponse](ctx, t, cl, req)
		code := r.Topics[0].Partitions[0].ErrorCode
		if code != kerr.CoordinatorLoadInProgress.Code || ctx.Err() != nil {
			return code
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupOffsets asks OffsetFetch v8 for partitions 0-2 of topic, and returns their offsets and
// error codes, after the coordinator has loaded the group.
func groupOffsets(ctx context.Context, t *testing.T, cl *wire.Client, grp, topic string, requireStable bool) (offs []int64, codes []int16) {
	t.Helper()
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		req.RequireStable = requireStable
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: grp, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{0, 1, 2}}}}}
		r := request[*kmsg.OffsetFetchResponse](ctx, t, cl, req)
		g := r.Groups[0]
		if g.ErrorCode == kerr.CoordinatorLoadInProgress.Code && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if g.ErrorCode != 0 {
			t.Fatalf("OffsetFetch: %v", kerr.ErrorForCode(g.ErrorCode))
		}
		for _, p := range g.Topics[0].Partitions {
			offs, codes = append(offs, p.Offset), append(codes, p.ErrorCode)
		}
		return offs, codes
	}
}

// TestTxnOffsetCommit: TxnOffsetCommit over the wire. The offsets are written as the producer's
// transactional batch (a fenced epoch is refused by the partition: INVALID_PRODUCER_EPOCH), are
// invisible until the marker (RequireStable: UNSTABLE_OFFSET_COMMIT), visible after a commit
// marker, dropped after an abort marker; a restart replays the producer's transactional batch as
// pending again.
func TestTxnOffsetCommit(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := rawClient(t, c, 0)

	av := request[*kmsg.ApiVersionsResponse](ctx, t, cl, kmsg.NewPtrApiVersionsRequest())
	advertised := false
	for _, k := range av.ApiKeys {
		if k.ApiKey == 28 {
			advertised = k.MinVersion == 0 && k.MaxVersion == 5
		}
	}
	if !advertised {
		t.Fatalf("ApiVersions does not advertise TxnOffsetCommit v0-v5: %+v", av.ApiKeys)
	}

	const grp, topic = "txn-group", "txn-input"
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 4
	ct.TimeoutMillis = 10000
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}}
	if r := request[*kmsg.CreateTopicsResponse](ctx, t, cl, ct); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	groupReady(ctx, t, cl, grp, topic)
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("__consumer_offsets")}}
	mr := request[*kmsg.MetadataResponse](ctx, t, cl, md)
	if len(mr.Topics) != 1 || len(mr.Topics[0].Partitions) == 0 {
		t.Fatalf("__consumer_offsets: %+v", mr.Topics)
	}
	part := group.PartitionFor(grp, len(mr.Topics[0].Partitions))
	// The transaction coordinator's markers are simulated: the group coordinator is told of them
	// as the WriteTxnMarkers handler tells it, but they are not in the log.
	marker := func(pid int64, commit bool) { c.Node(0).CompleteGroupTxn(part, pid, commit) }

	const committed, open, aborted = 1000, 2000, 3000 // producer ids
	if code := txnCommit(ctx, t, cl, grp, topic, 0, 10, committed, 0); code != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	if offs, codes := groupOffsets(ctx, t, cl, grp, topic, true); codes[0] != kerr.UnstableOffsetCommit.Code || offs[0] != -1 || codes[1] != 0 {
		t.Fatalf("RequireStable while the transaction is open: %v %v", offs, codes)
	}
	if offs, codes := groupOffsets(ctx, t, cl, grp, topic, false); offs[0] != -1 || codes[0] != 0 {
		t.Fatalf("fetch while the transaction is open: %v %v", offs, codes)
	}
	// The producer's epoch moves on (a new InitProducerId); the old epoch is fenced by the
	// partition's producer state.
	if code := txnCommit(ctx, t, cl, grp, topic, 0, 11, committed, 1); code != 0 {
		t.Fatalf("TxnOffsetCommit, epoch 1: %v", kerr.ErrorForCode(code))
	}
	if code := txnCommit(ctx, t, cl, grp, topic, 0, 12, committed, 0); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("TxnOffsetCommit with a fenced epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	marker(committed, true)
	if offs, codes := groupOffsets(ctx, t, cl, grp, topic, true); offs[0] != 11 || codes[0] != 0 {
		t.Fatalf("after the commit marker: %v %v", offs, codes)
	}

	if code := txnCommit(ctx, t, cl, grp, topic, 1, 20, open, 0); code != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	if code := txnCommit(ctx, t, cl, grp, topic, 2, 30, aborted, 0); code != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	marker(aborted, false)
	offs, codes := groupOffsets(ctx, t, cl, grp, topic, true)
	if offs[0] != 11 || codes[0] != 0 || codes[1] != kerr.UnstableOffsetCommit.Code || offs[2] != -1 || codes[2] != 0 {
		t.Fatalf("RequireStable: %v %v", offs, codes)
	}
	if offs, codes = groupOffsets(ctx, t, cl, grp, topic, false); offs[0] != 11 || offs[1] != -1 || offs[2] != -1 || codes[1] != 0 {
		t.Fatalf("without RequireStable: %v %v", offs, codes)
	}

	// The coordinator reloads from the log: the open transaction's offsets are its producer's
	// transactional batch there, pending again until its marker.
	if err := c.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(0); err != nil {
		t.Fatal(err)
	}
	for {
		// The restarted node's client listener may lag its registration.
		conn, err := net.Dial("tcp", c.Addrs()[0])
		if err == nil {
			cl = wire.NewClient(conn, "test", 16<<20)
			t.Cleanup(func() { cl.Close() })
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	groupReady(ctx, t, cl, grp, topic)
	if offs, codes := groupOffsets(ctx, t, cl, grp, topic, true); codes[1] != kerr.UnstableOffsetCommit.Code || offs[1] != -1 {
		t.Fatalf("after the restart, RequireStable: %v %v", offs, codes)
	}
	marker(open, true)
	if offs, codes := groupOffsets(ctx, t, cl, grp, topic, true); offs[1] != 20 || codes[1] != 0 {
		t.Fatalf("after the open transaction's commit marker: %v %v", offs, codes)
	}
}
