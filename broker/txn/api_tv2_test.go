package txn

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (r *rig) endV5(id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 5, id, pid, epoch, commit
	return r.c.EndTxn(context.Background(), req)
}

// TestCoordinatorTransactionVersion2: through the Coordinator's API, a partition leader's
// additions (AddFromLeader, AddPartitionsToTxn v5 without VerifyOnly) start and extend the
// transaction, EndTxn v5 answers the bumped epoch in its ProducerID/ProducerEpoch fields, the
// records are value v1 with ClientTransactionVersion 2, and an exhausted epoch rotates to a
// producer id allocated for the end.
func TestCoordinatorTransactionVersion2(t *testing.T) {
	r := newRig(t, func(c *Config) { c.TransactionVersion = 2 })
	if ip := r.init("tx", 60000); ip.ErrorCode != 0 || ip.ProducerID != 1000 || ip.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId = %+v", ip)
	}
	codes := r.c.AddFromLeader(context.Background(), 0, "tx", 1000, 0, []TopicPartition{tp("t", 0), tp("u", 1)})
	if len(codes) != 2 || codes[tp("t", 0)] != 0 || codes[tp("u", 1)] != 0 {
		t.Fatalf("AddFromLeader = %v", codes)
	}
	if codes := r.c.AddFromLeader(context.Background(), 0, "tx", 1000, 1, []TopicPartition{tp("t", 2)}); codes[tp("t", 2)] != kerr.ProducerFenced.Code {
		t.Fatalf("AddFromLeader with another epoch = %v", codes)
	}
	if codes := r.c.AddFromLeader(context.Background(), 0, "nobody", 1000, 0, []TopicPartition{tp("t", 2)}); codes[tp("t", 2)] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("AddFromLeader of an unknown id = %v", codes)
	}
	if codes := r.c.AddFromLeader(context.Background(), 0, "tx", 1000, 0, []TopicPartition{tp("missing", 0)}); codes[tp("missing", 0)] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("AddFromLeader of a missing topic = %v", codes)
	}
	// The same addition over the wire, as a partition leader on another node sends it.
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch = "tx", 1000, 0
	tr.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "v", Partitions: []int32{3}}}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tr}
	if resp := r.c.AddPartitionsToTxn(context.Background(), req); resp.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn v5 = %+v", resp)
	}
	if d := r.describe("tx"); d.State != "Ongoing" || len(d.Topics) != 3 {
		t.Fatalf("DescribeTransactions = %+v", d)
	}
	end := r.endV5("tx", 1000, 0, true)
	if end.ErrorCode != 0 || end.ProducerID != 1000 || end.ProducerEpoch != 1 {
		t.Fatalf("EndTxn v5 = %+v, want producer 1000 epoch 1", end)
	}
	if retry := r.endV5("tx", 1000, 0, true); retry.ErrorCode != 0 && retry.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("retried EndTxn v5 = %+v", retry)
	}
	p := PartitionFor("tx", 4)
	// Complete once the machine has heard the record is written, not only once it is in the log:
	// a retry in between answers CONCURRENT_TRANSACTIONS.
	eventually(t, "CompleteCommit", func() bool {
		s := r.store.states(t, p, "tx")
		return len(s) > 0 && s[len(s)-1] == "CompleteCommit" && r.describe("tx").State == "CompleteCommit"
	})
	r.store.mu.Lock()
	recs := slices.Clone(r.store.logs[p])
	r.store.mu.Unlock()
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(recs[len(recs)-1].Value); err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || v.ClientTransactionVersion != 2 || v.ProducerEpoch != 1 {
		t.Fatalf("CompleteCommit record: version %d, client version %d, epoch %d", v.Version, v.ClientTransactionVersion, v.ProducerEpoch)
	}
	if retry := r.endV5("tx", 1000, 0, true); retry.ErrorCode != 0 || retry.ProducerEpoch != 1 {
		t.Fatalf("retried EndTxn v5 after completion = %+v", retry)
	}
	if empty := r.endV5("tx", 1000, 1, false); empty.ErrorCode != 0 || empty.ProducerEpoch != 2 {
		t.Fatalf("empty abort = %+v", empty)
	}

	// The exhausted epoch (set by hand once the abort is complete): the end allocates the next
	// producer id.
	eventually(t, "CompleteAbort", func() bool { return r.describe("tx").State == "CompleteAbort" })
	r.c.mu.Lock()
	r.c.txns["tx"].t.epoch = math.MaxInt16 - 1
	r.c.mu.Unlock()
	if codes := r.c.AddFromLeader(context.Background(), 0, "tx", 1000, math.MaxInt16-1, []TopicPartition{tp("t", 0)}); codes[tp("t", 0)] != 0 {
		t.Fatalf("AddFromLeader at the exhausted epoch = %v", codes)
	}
	end = r.endV5("tx", 1000, math.MaxInt16-1, true)
	if end.ErrorCode != 0 || end.ProducerID == 1000 || end.ProducerEpoch != 0 {
		t.Fatalf("EndTxn v5 at the exhausted epoch = %+v, want a new producer id at epoch 0", end)
	}
	// The rig answers EndTxn once Prepare is durable (no hold): the markers follow.
	eventually(t, "the rotating end's markers", func() bool { return len(r.markers.all()) == 2 })
	if last := r.markers.all()[1]; last.ProducerID != 1000 || last.ProducerEpoch != math.MaxInt16 {
		t.Fatalf("markers of the rotating end: %+v", last)
	}
}
