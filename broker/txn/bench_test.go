package txn

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkCommit measures the coordinator's own cost of a transaction (AddPartitionsToTxn of
// three partitions, EndTxn commit, markers, Complete) over an in-memory store and instant
// markers: the broker's appends and marker round trips come on top.
func BenchmarkCommit(b *testing.B) {
	c, r := singleCoordinator(b, Config{}, newMemStore(), &fakeMarkers{})
	ctx := context.Background()
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, "tx", r.ProducerID, r.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1, 2}}}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, "tx", r.ProducerID, r.ProducerEpoch, true
	b.ResetTimer()
	for range b.N {
		for {
			if c.AddPartitionsToTxn(ctx, add).Topics[0].Partitions[0].ErrorCode == 0 {
				break
			}
		}
		if code := c.EndTxn(ctx, end).ErrorCode; code != 0 {
			b.Fatalf("EndTxn: %d", code)
		}
	}
}
