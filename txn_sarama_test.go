package minikraft_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// saramaTxnConfig is a sarama configuration for a transactional producer (idempotent, acks=all,
// one request in flight) and read_committed consumers.
func saramaTxnConfig(txnID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_4_0_0
	cfg.ClientID = "minikraft-sarama-txn"
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Retry.Max = 50
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Transaction.ID = txnID
	cfg.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	return cfg
}

// TestSaramaTransactions drives sarama's transactional producer on three nodes: a committed
// transaction over three partitions, an aborted one, then consume-transform-produce transactions
// that carry a group's offsets (AddMessageToTxn), one committed and one aborted. A read_committed
// sarama consumer sees the committed records only, in order, and the group's offsets are those of
// the committed transaction alone.
func TestSaramaTransactions(t *testing.T) {
	const topic, input, group = "sarama-txn", "sarama-txn-in", "sarama-txn-group"
	c := minikraft.NewCluster(t, 3, minikraft.Quiet(), minikraft.WithConfig("transaction.state.log.num.partitions", "5"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	adm := kadm.NewClient(kcl)
	for _, tp := range []string{topic, input} {
		if _, err := adm.CreateTopic(ctx, 3, 3, nil, tp); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitForLeaders(ctx, tp); err != nil {
			t.Fatal(err)
		}
	}
	// The input of the transform: two plain records on input partition 0.
	if err := kcl.ProduceSync(ctx,
		&kgo.Record{Topic: input, Partition: 0, Value: []byte("in0")},
		&kgo.Record{Topic: input, Partition: 0, Value: []byte("in1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p, err := sarama.NewSyncProducer(c.Addrs(), saramaTxnConfig("sarama-tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.IsTransactional() {
		t.Fatal("the producer is not transactional")
	}
	msg := func(part int32, v string) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(v)}
	}
	var want [3][]string
	txn := func(name string, commit bool, parts ...int32) {
		t.Helper()
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("%s: BeginTxn: %v", name, err)
		}
		var msgs []*sarama.ProducerMessage
		for i, part := range parts {
			msgs = append(msgs, msg(part, fmt.Sprintf("%s-%d", name, i)))
		}
		if err := p.SendMessages(msgs); err != nil {
			t.Fatalf("%s: SendMessages: %v", name, err)
		}
		// One more through SendMessage, as single-record producers do.
		if _, _, err := p.SendMessage(msg(parts[0], name+"-last")); err != nil {
			t.Fatalf("%s: SendMessage: %v", name, err)
		}
		end := p.CommitTxn
		if !commit {
			end = p.AbortTxn
		}
		if err := end(); err != nil {
			t.Fatalf("%s: end (commit %v): %v", name, commit, err)
		}
		if commit {
			for _, m := range append(msgs, msg(parts[0], name+"-last")) {
				want[m.Partition] = append(want[m.Partition], string(m.Value.(sarama.StringEncoder)))
			}
		}
	}
	txn("c1", true, 0, 1, 2, 0)
	txn("a1", false, 2, 1, 0)
	txn("c2", true, 1, 1)

	// Consume-transform-produce: each transaction carries the input record's offset for group.
	cons, err := sarama.NewConsumer(c.Addrs(), saramaTxnConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(input, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	for i, commit := range []bool{true, false} {
		var in *sarama.ConsumerMessage
		select {
		case in = <-pc.Messages():
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("no input record")
		}
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		out := msg(2, "t-"+string(in.Value))
		if _, _, err := p.SendMessage(out); err != nil {
			t.Fatalf("transform %d: %v", i, err)
		}
		if err := p.AddMessageToTxn(in, group, nil); err != nil {
			t.Fatalf("transform %d: AddMessageToTxn: %v", i, err)
		}
		if commit {
			if err := p.CommitTxn(); err != nil {
				t.Fatalf("transform %d: CommitTxn: %v", i, err)
			}
			want[2] = append(want[2], "t-"+string(in.Value))
		} else if err := p.AbortTxn(); err != nil {
			t.Fatalf("transform %d: AbortTxn: %v", i, err)
		}
	}
	pc.Close()

	// A plain record closes each partition: once a read_committed consumer reaches it, it has
	// read everything the transactions left.
	plain, err := sarama.NewSyncProducer(c.Addrs(), func() *sarama.Config {
		cfg := saramaTxnConfig("")
		cfg.Producer.Idempotent = false
		return cfg
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for part := range int32(3) {
		if _, _, err := plain.SendMessage(msg(part, "end")); err != nil {
			t.Fatal(err)
		}
	}
	for part := range int32(3) {
		pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) == 0 || got[len(got)-1] != "end" {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", part, err)
			case <-ctx.Done():
				t.Fatalf("partition %d: read_committed read %q and no end", part, got)
			}
		}
		pc.Close()
		if w := append(want[part], "end"); !slices.Equal(got, w) {
			t.Errorf("partition %d: read_committed read %q, want %q", part, got, w)
		}
	}

	// The committed transform moved the group to in0's next offset; the aborted one did not.
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(input, 0); !ok || o.Err != nil || o.At != 1 {
		t.Errorf("group offset of %s/0: %+v (found %v), want 1", input, o, ok)
	}
}
