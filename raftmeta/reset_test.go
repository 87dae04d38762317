package raftmeta

import (
	"bytes"
	"slices"
	"testing"
)

func TestFSMResetCluster(t *testing.T) {
	f := seeded(t)
	applyOK(t, f, 6, CreateTopic{Name: "__consumer_offsets", ID: id16(7), Internal: true,
		Partitions: []Partition{part(0, 0, 1), part(1, 1, 2)}, Configs: map[string]string{"cleanup.policy": "compact"}})
	applyOK(t, f, 7, CreateTopic{Name: "__transaction_state", ID: id16(8), Internal: true, Partitions: []Partition{part(0, 2)}})
	applyOK(t, f, 8, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "a"}, Set: map[string]string{"retention.ms": "1"}})
	applyOK(t, f, 9, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceBroker}, Set: map[string]string{"log.retention.ms": "5"}})
	applyOK(t, f, 10, AllocateProducerIDs{Count: 1000})
	before := f.State()

	applyErr(t, f, 11, ResetCluster{NewIDs: map[string][16]byte{"__consumer_offsets": {}}}, ErrInvalidCommand)
	applyErr(t, f, 12, ResetCluster{NewIDs: map[string][16]byte{"__consumer_offsets": id16(1)}}, ErrTopicExists)
	applyErr(t, f, 13, ResetCluster{NewIDs: map[string][16]byte{"__consumer_offsets": id16(9), "__transaction_state": id16(9)}}, ErrTopicExists)

	res := applyOK(t, f, 14, ResetCluster{NewIDs: map[string][16]byte{"__consumer_offsets": id16(9), "a": id16(10)}})
	if res != uint64(14) {
		t.Fatalf("result %v, want the index 14", res)
	}
	st := f.State()
	if len(st.Topics) != 1 || len(st.TopicIDs) != 1 || st.TopicIDs[id16(9)] != "__consumer_offsets" {
		t.Fatalf("topics after reset: %v / %v; want only __consumer_offsets under its new id", st.Topics, st.TopicIDs)
	}
	off := st.Topics["__consumer_offsets"]
	for i, p := range off.Partitions {
		old := before.Topics["__consumer_offsets"].Partitions[i]
		if p.LeaderEpoch != old.LeaderEpoch+1 || p.PartitionEpoch != old.PartitionEpoch+1 || p.Leader != old.Leader ||
			!slices.Equal(p.ISR, old.ISR) || !off.Internal {
			t.Fatalf("partition %d: %+v, was %+v", i, p, old)
		}
	}
	if len(st.Configs) != 1 || st.Configs[ConfigResource{Type: ConfigResourceTopic, Name: "__consumer_offsets"}]["cleanup.policy"] != "compact" {
		t.Fatalf("configs after reset: %v; want only the internal topic's", st.Configs)
	}
	if st.NextProducerID != 1000 || len(st.Brokers) != 3 || st.ClusterID != "c1" {
		t.Fatalf("reset lost the brokers, cluster id or producer ids: %+v", st)
	}
	if before.Topics["a"] == nil || before.Partition("__consumer_offsets", 0).LeaderEpoch != 0 {
		t.Fatal("the State before the reset was changed")
	}
}

func TestFSMRestoreTopics(t *testing.T) {
	src := seeded(t)
	applyOK(t, src, 6, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "a"}, Set: map[string]string{"retention.ms": "1"}})
	applyOK(t, src, 7, AllocateProducerIDs{Count: 5000})
	var buf bytes.Buffer
	if err := WriteState(&buf, src.State()); err != nil {
		t.Fatal(err)
	}
	snap, err := ReadState(&buf)
	if err != nil {
		t.Fatal(err)
	}

	dst := seeded(t)
	applyOK(t, dst, 6, CreateTopic{Name: "other", ID: id16(3), Partitions: []Partition{part(0, 0)}})
	applyOK(t, dst, 7, RestoreTopics(snap.RestoreCommand()))
	got, want := withoutIndex(t, dst.State()), withoutIndex(t, src.State())
	if !bytes.Equal(got, want) {
		t.Fatalf("restored state\n%s\nwant\n%s", got, want)
	}
	bad := snap.RestoreCommand()
	bad.Topics = append(bad.Topics, &Topic{Name: "dup", ID: id16(1), Partitions: []*Partition{{Replicas: []int32{0}, ISR: []int32{0}}}})
	applyErr(t, dst, 8, bad, ErrTopicExists)
}
