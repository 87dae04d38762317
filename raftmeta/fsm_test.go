package raftmeta

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func part(id int32, replicas ...int32) Partition {
	return Partition{ID: id, Replicas: replicas, ISR: replicas, Leader: replicas[0]}
}

// seeded returns an FSM with a cluster id, three brokers and topic "a" (2 partitions, RF 3),
// applied at indexes 1..5.
func seeded(t *testing.T) *FSM {
	t.Helper()
	f := NewFSM()
	applyOK(t, f, 1, InitCluster{ClusterID: "c1"})
	for i := int32(0); i < 3; i++ {
		applyOK(t, f, uint64(2+i), RegisterBroker{Broker: Broker{ID: i, Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092 + i}}}})
	}
	applyOK(t, f, 5, CreateTopic{Name: "a", ID: id16(1), Partitions: []Partition{part(0, 0, 1, 2), part(1, 1, 2, 0)}})
	return f
}

func TestFSMInitCluster(t *testing.T) {
	f := NewFSM()
	if s := f.State(); s == nil || s.ClusterID != "" || s.Index != 0 || s.Topics == nil {
		t.Fatalf("empty state = %+v", s)
	}
	applyErr(t, f, 1, InitCluster{}, ErrInvalidCommand)
	if res := applyOK(t, f, 2, InitCluster{ClusterID: "c1"}); res != nil {
		t.Fatalf("result = %v", res)
	}
	if got := f.State().ClusterID; got != "c1" {
		t.Fatalf("ClusterID = %q", got)
	}
	applyOK(t, f, 3, InitCluster{ClusterID: "c1"}) // idempotent
	applyErr(t, f, 4, InitCluster{ClusterID: "other"}, ErrClusterIDMismatch)
	if got := f.State().ClusterID; got != "c1" {
		t.Fatalf("ClusterID after mismatch = %q", got)
	}
}

func TestFSMBrokers(t *testing.T) {
	f := NewFSM()
	b := Broker{ID: 7, Incarnation: id16(9), Rack: "r1", Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092, SecurityProtocol: "PLAINTEXT"}}}
	if res := applyOK(t, f, 10, RegisterBroker{Broker: b}); res != int64(10) {
		t.Fatalf("result = %#v, want int64(10)", res)
	}
	got := f.State().Broker(7)
	want := b
	want.Epoch = 10
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("broker = %+v, want %+v", got, want)
	}
	applyErr(t, f, 11, RegisterBroker{Broker: Broker{ID: -1}}, ErrInvalidCommand)

	applyOK(t, f, 12, SetBrokerFenced{ID: 7, Fenced: true})
	if !f.State().Broker(7).Fenced {
		t.Fatal("not fenced")
	}
	applyErr(t, f, 13, SetBrokerFenced{ID: 8, Fenced: true}, ErrUnknownBroker)

	// Re-registration replaces the registration and bumps the epoch.
	b.Incarnation = id16(10)
	if res := applyOK(t, f, 14, RegisterBroker{Broker: b}); res != int64(14) {
		t.Fatalf("re-register result = %v", res)
	}
	if got := f.State().Broker(7); got.Epoch != 14 || got.Fenced || got.Incarnation != id16(10) {
		t.Fatalf("re-registered broker = %+v", got)
	}
}

func TestFSMCreateTopic(t *testing.T) {
	f := seeded(t)
	s := f.State()
	tp := s.Topic("a")
	if tp == nil || tp.ID != id16(1) || len(tp.Partitions) != 2 || s.TopicByID(id16(1)) != tp {
		t.Fatalf("topic = %+v", tp)
	}
	if p := s.Partition("a", 1); p == nil || p.Leader != 1 || !reflect.DeepEqual(p.ISR, []int32{1, 2, 0}) {
		t.Fatalf("a-1 = %+v", p)
	}
	if s.Partition("a", 2) != nil || s.Partition("nope", 0) != nil || s.TopicByID(id16(2)) != nil {
		t.Fatal("lookups of missing things are not nil")
	}

	applyOK(t, f, 6, CreateTopic{Name: "b", ID: id16(2), Partitions: []Partition{part(0, 1)},
		Configs: map[string]string{"retention.ms": "1000"}, Internal: true})
	s = f.State()
	if !s.Topic("b").Internal || s.Config(ConfigResource{Type: ConfigResourceTopic, Name: "b"})["retention.ms"] != "1000" {
		t.Fatalf("topic b = %+v, configs %v", s.Topic("b"), s.Configs)
	}
	if _, ok := s.Configs[ConfigResource{Type: ConfigResourceTopic, Name: "a"}]; ok {
		t.Fatal("topic a got an empty config entry")
	}

	idx := uint64(7)
	reject := func(c CreateTopic, want error) {
		t.Helper()
		applyErr(t, f, idx, c, want)
		idx++
	}
	reject(CreateTopic{Name: "a", ID: id16(3), Partitions: []Partition{part(0, 0)}}, ErrTopicExists)
	reject(CreateTopic{Name: "c", ID: id16(1), Partitions: []Partition{part(0, 0)}}, ErrTopicExists)
	reject(CreateTopic{Name: "", ID: id16(3), Partitions: []Partition{part(0, 0)}}, ErrInvalidCommand)
	reject(CreateTopic{Name: "c", Partitions: []Partition{part(0, 0)}}, ErrInvalidCommand)
	for name, ps := range map[string][]Partition{
		"none":             nil,
		"id out of order":  {part(1, 0)},
		"no replicas":      {{ID: 0, Leader: -1}},
		"duplicate":        {{ID: 0, Replicas: []int32{1, 1}, ISR: []int32{1}, Leader: 1}},
		"isr not replica":  {{ID: 0, Replicas: []int32{1}, ISR: []int32{1, 2}, Leader: 1}},
		"leader not isr":   {{ID: 0, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 2}},
		"negative replica": {{ID: 0, Replicas: []int32{-3}, Leader: -1}},
		"negative epoch":   {{ID: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: -1}},
		"offline":          {{ID: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, OfflineReplicas: []int32{2}}},
		"second bad":       {part(0, 1), part(2, 1)},
	} {
		t.Run(name, func(t *testing.T) {
			reject(CreateTopic{Name: "c", ID: id16(3), Partitions: ps}, ErrInvalidPartitions)
		})
	}
	// No leader is fine (all replicas offline at creation is the controller's call).
	applyOK(t, f, idx, CreateTopic{Name: "c", ID: id16(3), Partitions: []Partition{{ID: 0, Replicas: []int32{1}, Leader: NoLeader}}})
}

func TestFSMDeleteTopic(t *testing.T) {
	f := seeded(t)
	applyOK(t, f, 6, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "a"}, Set: map[string]string{"cleanup.policy": "compact"}})
	applyOK(t, f, 7, DeleteTopic{Name: "a"})
	s := f.State()
	if s.Topic("a") != nil || len(s.TopicIDs) != 0 || len(s.Configs) != 0 {
		t.Fatalf("after delete: topics %v ids %v configs %v", s.Topics, s.TopicIDs, s.Configs)
	}
	applyErr(t, f, 8, DeleteTopic{Name: "a"}, ErrUnknownTopic)
	// The name and the id are free again.
	applyOK(t, f, 9, CreateTopic{Name: "a", ID: id16(1), Partitions: []Partition{part(0, 0)}})
}

func TestFSMCreatePartitions(t *testing.T) {
	f := seeded(t)
	applyOK(t, f, 6, CreatePartitions{Topic: "a", Add: []Partition{part(2, 2, 0, 1), part(3, 0, 1, 2)}})
	tp := f.State().Topic("a")
	if len(tp.Partitions) != 4 || tp.Partitions[3].ID != 3 || tp.Partitions[2].Leader != 2 {
		t.Fatalf("partitions = %+v", tp.Partitions)
	}
	applyErr(t, f, 7, CreatePartitions{Topic: "a", Add: []Partition{part(5, 0)}}, ErrInvalidPartitions)
	applyErr(t, f, 8, CreatePartitions{Topic: "a"}, ErrInvalidPartitions)
	applyErr(t, f, 9, CreatePartitions{Topic: "x", Add: []Partition{part(0, 0)}}, ErrUnknownTopic)
	applyErr(t, f, 10, CreatePartitions{Topic: "a", Add: []Partition{part(4, 0), {ID: 5}}}, ErrInvalidPartitions)
}

func TestFSMAlterConfigs(t *testing.T) {
	f := seeded(t)
	topicA := ConfigResource{Type: ConfigResourceTopic, Name: "a"}
	applyOK(t, f, 6, AlterConfigs{Resource: topicA, Set: map[string]string{"x": "1", "y": "2"}})
	applyOK(t, f, 7, AlterConfigs{Resource: topicA, Set: map[string]string{"z": "3"}, Delete: []string{"x", "absent"}})
	if got := f.State().Config(topicA); !reflect.DeepEqual(got, map[string]string{"y": "2", "z": "3"}) {
		t.Fatalf("incremental: %v", got)
	}
	applyOK(t, f, 8, AlterConfigs{Resource: topicA, Set: map[string]string{"w": "4"}, Replace: true})
	if got := f.State().Config(topicA); !reflect.DeepEqual(got, map[string]string{"w": "4"}) {
		t.Fatalf("replace: %v", got)
	}
	applyOK(t, f, 9, AlterConfigs{Resource: topicA, Delete: []string{"w"}})
	if _, ok := f.State().Configs[topicA]; ok {
		t.Fatal("empty config set kept")
	}

	for i, r := range []ConfigResource{{Type: ConfigResourceBroker, Name: ""}, {Type: ConfigResourceBroker, Name: "1"}} {
		applyOK(t, f, uint64(10+i), AlterConfigs{Resource: r, Set: map[string]string{"log.retention.ms": "5"}})
		if f.State().Config(r)["log.retention.ms"] != "5" {
			t.Fatalf("broker config %v not set", r)
		}
	}
	applyErr(t, f, 12, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "x"}, Set: map[string]string{"a": "b"}}, ErrUnknownTopic)
	applyErr(t, f, 13, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceBroker, Name: "one"}}, ErrInvalidConfigResource)
	applyErr(t, f, 14, AlterConfigs{Resource: ConfigResource{Type: ConfigResourceBroker, Name: "-1"}}, ErrInvalidConfigResource)
	applyErr(t, f, 15, AlterConfigs{Resource: ConfigResource{Type: 3, Name: "a"}}, ErrInvalidConfigResource)
}

func TestFSMChangePartition(t *testing.T) {
	f := seeded(t)
	// Shrink the ISR: partition epoch bumps, leader epoch does not.
	res := applyOK(t, f, 6, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: 0, ISR: []int32{0, 1}})
	p, ok := res.(*Partition)
	if !ok || p != f.State().Partition("a", 0) {
		t.Fatalf("result = %#v, want the new *Partition", res)
	}
	if p.PartitionEpoch != 1 || p.LeaderEpoch != 0 || p.Leader != 0 || !reflect.DeepEqual(p.ISR, []int32{0, 1}) {
		t.Fatalf("after ISR shrink: %+v", p)
	}
	// A stale expectation is refused.
	applyErr(t, f, 7, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: 0, ISR: []int32{0}}, ErrStalePartitionEpoch)
	// A new leader bumps the leader epoch even without BumpLeaderEpoch; -1 skips the check.
	applyOK(t, f, 8, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, Leader: i32(1)})
	p = f.State().Partition("a", 0)
	if p.Leader != 1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 2 {
		t.Fatalf("after leader change: %+v", p)
	}
	// Same leader with BumpLeaderEpoch bumps it too.
	applyOK(t, f, 9, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: 2, Leader: i32(1), BumpLeaderEpoch: true})
	if p = f.State().Partition("a", 0); p.LeaderEpoch != 2 || p.PartitionEpoch != 3 {
		t.Fatalf("after bump: %+v", p)
	}
	// Reassignment: new replicas, ISR and leader at once; other partitions untouched.
	before := f.State().Partition("a", 1)
	applyOK(t, f, 10, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	if p = f.State().Partition("a", 0); !reflect.DeepEqual(p.Replicas, []int32{1, 2}) || p.LeaderEpoch != 2 {
		t.Fatalf("after reassignment: %+v", p)
	}
	if f.State().Partition("a", 1) != before {
		t.Fatal("an untouched partition was copied")
	}
	// Leader lost, no leader.
	applyOK(t, f, 11, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, Leader: i32(NoLeader), ISR: []int32{1}})
	if p = f.State().Partition("a", 0); p.Leader != NoLeader || p.LeaderEpoch != 3 {
		t.Fatalf("after leader loss: %+v", p)
	}

	applyErr(t, f, 12, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, Leader: i32(2), ISR: []int32{1}}, ErrInvalidPartitions)
	applyErr(t, f, 13, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, ISR: []int32{0}}, ErrInvalidPartitions)
	applyErr(t, f, 14, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, Replicas: []int32{}}, ErrInvalidPartitions)
	applyErr(t, f, 15, ChangePartition{Topic: "a", Partition: 2, ExpectedPartitionEpoch: -1}, ErrUnknownPartition)
	applyErr(t, f, 16, ChangePartition{Topic: "a", Partition: -1, ExpectedPartitionEpoch: -1}, ErrUnknownPartition)
	applyErr(t, f, 17, ChangePartition{Topic: "x", Partition: 0, ExpectedPartitionEpoch: -1}, ErrUnknownTopic)

	// A reassignment in progress (KIP-455): adding and removing replicas are replicas, apart;
	// SetReassignment with neither ends it; other changes leave it as it is.
	applyOK(t, f, 18, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, Replicas: []int32{0, 1, 2},
		SetReassignment: true, AddingReplicas: []int32{0}, RemovingReplicas: []int32{2}})
	if p = f.State().Partition("a", 0); !p.Reassigning() || !reflect.DeepEqual(p.AddingReplicas, []int32{0}) || !reflect.DeepEqual(p.RemovingReplicas, []int32{2}) {
		t.Fatalf("reassigning: %+v", p)
	}
	applyOK(t, f, 19, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, ISR: []int32{1, 0}})
	if p = f.State().Partition("a", 0); !p.Reassigning() {
		t.Fatalf("an ISR change ended the reassignment: %+v", p)
	}
	applyErr(t, f, 20, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, SetReassignment: true, AddingReplicas: []int32{3}}, ErrInvalidPartitions)
	applyErr(t, f, 21, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, SetReassignment: true, AddingReplicas: []int32{1}, RemovingReplicas: []int32{1}}, ErrInvalidPartitions)
	applyOK(t, f, 22, ChangePartition{Topic: "a", Partition: 0, ExpectedPartitionEpoch: -1, Replicas: []int32{0, 1}, SetReassignment: true})
	if p = f.State().Partition("a", 0); p.Reassigning() || !reflect.DeepEqual(p.Replicas, []int32{0, 1}) {
		t.Fatalf("after the reassignment: %+v", p)
	}
}

func TestFSMChangePartitionOfflineReplicas(t *testing.T) {
	f := NewFSM()
	applyOK(t, f, 1, CreateTopic{Name: "t", ID: id16(1), Partitions: []Partition{
		{ID: 0, Replicas: []int32{0, 1, 2}, ISR: []int32{0}, Leader: 0, OfflineReplicas: []int32{1, 2}},
	}})
	applyOK(t, f, 2, ChangePartition{Topic: "t", ExpectedPartitionEpoch: -1, Replicas: []int32{0, 2}})
	if got := f.State().Partition("t", 0).OfflineReplicas; !reflect.DeepEqual(got, []int32{2}) {
		t.Fatalf("offline replicas = %v, want [2]", got)
	}
}

func TestFSMAllocateProducerIDs(t *testing.T) {
	f := NewFSM()
	if res := applyOK(t, f, 1, AllocateProducerIDs{Count: 1000}); res != int64(0) {
		t.Fatalf("first block = %#v", res)
	}
	if res := applyOK(t, f, 2, AllocateProducerIDs{Count: 1000}); res != int64(1000) {
		t.Fatalf("second block = %#v", res)
	}
	applyErr(t, f, 3, AllocateProducerIDs{}, ErrInvalidCommand)
	if got := f.State().NextProducerID; got != 2000 {
		t.Fatalf("NextProducerID = %d", got)
	}
}

// fullLog exercises every command; used by the copy-on-write, snapshot and determinism tests.
func fullLog() []Command {
	return []Command{
		InitCluster{ClusterID: "c1"},
		RegisterBroker{Broker: Broker{ID: 0, Incarnation: id16(5), Rack: "r", Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "h0", Port: 1}}}},
		RegisterBroker{Broker: Broker{ID: 1, Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "h1", Port: 2}}}},
		CreateTopic{Name: "a", ID: id16(1), Partitions: []Partition{part(0, 0, 1), part(1, 1, 0)}, Configs: map[string]string{"k": "v"}},
		CreateTopic{Name: "b", ID: id16(2), Partitions: []Partition{part(0, 1)}},
		CreateTopic{Name: "gone", ID: id16(3), Partitions: []Partition{part(0, 1)}},
		SetBrokerFenced{ID: 1, Fenced: true},
		ChangePartition{Topic: "a", Partition: 1, ExpectedPartitionEpoch: 0, Leader: i32(0), ISR: []int32{0}},
		CreatePartitions{Topic: "b", Add: []Partition{part(1, 0)}},
		AlterConfigs{Resource: ConfigResource{Type: ConfigResourceBroker, Name: "0"}, Set: map[string]string{"x": "y"}},
		AlterConfigs{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "a"}, Set: map[string]string{"k": "w"}},
		AllocateProducerIDs{Count: 1000},
		DeleteTopic{Name: "gone"},
		DeleteTopic{Name: "gone"}, // rejected: still advances Index
	}
}

func TestFSMCopyOnWrite(t *testing.T) {
	f := NewFSM()
	log := fullLog()
	var olds []*State
	var frozen [][]byte
	for i, cmd := range log {
		olds = append(olds, f.State())
		frozen = append(frozen, snapshotBytes(t, f.State()))
		f.ApplyCommand(uint64(i+1), cmd)
	}
	// Every State published along the way still reads exactly as it did when it was current.
	for i, s := range olds {
		if got := snapshotBytes(t, s); !bytes.Equal(got, frozen[i]) {
			t.Fatalf("state before entry %d changed:\nwas %s\nnow %s", i+1, frozen[i], got)
		}
	}
	// Spot checks on the shared structure: the topic maps of State 4 (a created) and the last
	// differ, and the partition changed at entry 8 was copied, not written.
	if olds[7].Partition("a", 1).Leader != 1 || f.State().Partition("a", 1).Leader != 0 {
		t.Fatal("partition a-1 was mutated in place")
	}
	if olds[12].Topic("gone") == nil || f.State().Topic("gone") != nil {
		t.Fatal("topics map was mutated in place")
	}
	if olds[6].Broker(1).Fenced || !f.State().Broker(1).Fenced {
		t.Fatal("broker was mutated in place")
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := NewFSM()
	for i, cmd := range fullLog() {
		f.ApplyCommand(uint64(i+1), cmd)
	}
	want := f.State()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// A later apply must not leak into the snapshot taken before it.
	applyOK(t, f, 100, AllocateProducerIDs{Count: 1})
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed || sink.canceled {
		t.Fatalf("persist: err %v closed %v canceled %v", err, sink.closed, sink.canceled)
	}
	snap.Release()
	data := bytes.Clone(sink.Bytes())

	g := NewFSM()
	changed := g.Changed()
	if err := g.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Restore did not signal Changed")
	}
	got := g.State()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", got, want)
	}
	if !bytes.Equal(snapshotBytes(t, got), data) {
		t.Fatal("re-encoding the restored state gives other bytes")
	}
	if got.TopicByID(id16(1)) == nil || got.Index != uint64(len(fullLog())) {
		t.Fatalf("restored TopicIDs %v, Index %d", got.TopicIDs, got.Index)
	}

	// Bad snapshots are errors, not panics.
	for _, bad := range []string{"", "{", `{"version":2}`, `{"version":1,"topics":[null]}`, `{"version":1,"brokers":[null]}`} {
		if err := NewFSM().Restore(io.NopCloser(strings.NewReader(bad))); err == nil {
			t.Errorf("Restore(%q) succeeded", bad)
		}
	}
}

func TestFSMDeterministic(t *testing.T) {
	a, b := NewFSM(), NewFSM()
	var resA, resB []any
	for i, cmd := range fullLog() {
		resA = append(resA, a.ApplyCommand(uint64(i+1), cmd))
	}
	for i, cmd := range fullLog() {
		resB = append(resB, b.ApplyCommand(uint64(i+1), cmd))
	}
	if !bytes.Equal(snapshotBytes(t, a.State()), snapshotBytes(t, b.State())) {
		t.Fatal("same log, different states")
	}
	for i := range resA {
		ea, _ := resA[i].(error)
		eb, _ := resB[i].(error)
		if (ea == nil) != (eb == nil) || (ea != nil && ea.Error() != eb.Error()) {
			t.Fatalf("entry %d: results %v and %v", i+1, resA[i], resB[i])
		}
	}
	if _, ok := resA[len(resA)-1].(error); !ok {
		t.Fatal("the second DeleteTopic of the log should be rejected")
	}
}

func TestFSMUnknownOpPanics(t *testing.T) {
	for name, data := range map[string][]byte{
		"unknown op": {200, '{', '}'},
		"bad body":   append([]byte{opCreateTopic}, "not json"...),
		"empty":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			NewFSM().Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		})
	}
	if _, err := DecodeCommand([]byte{200}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("DecodeCommand(unknown op) = %v", err)
	}
	// Entries that are not commands are not the FSM's business.
	if res := NewFSM().Apply(&raft.Log{Index: 1, Type: raft.LogNoop}); res != nil {
		t.Fatalf("noop result = %v", res)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	cmds := append(fullLog(),
		ChangePartition{Topic: "t", Partition: 3, ExpectedPartitionEpoch: -1, Replicas: []int32{1}, ISR: []int32{}, BumpLeaderEpoch: true},
		ChangePartition{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 4, Replicas: []int32{3, 1, 2}, SetReassignment: true, AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}},
		AlterConfigs{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "t"}, Delete: []string{"a"}, Replace: true},
	)
	seen := map[byte]bool{}
	for _, cmd := range cmds {
		data, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		seen[data[0]] = true
		got, err := DecodeCommand(data)
		if err != nil {
			t.Fatalf("decode %T: %v", cmd, err)
		}
		if !reflect.DeepEqual(got, cmd) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, cmd)
		}
	}
	if len(seen) != 9 {
		t.Fatalf("the log covers %d ops, want all 9", len(seen))
	}
	// ISR: nil (unchanged) and [] (empty) must stay distinct through the encoding.
	data, _ := EncodeCommand(ChangePartition{ISR: nil})
	got, _ := DecodeCommand(data)
	if got.(ChangePartition).ISR != nil {
		t.Fatal("nil ISR decoded as non-nil")
	}
	if _, err := EncodeCommand(nil); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("EncodeCommand(nil) = %v", err)
	}
	if res := NewFSM().ApplyCommand(1, nil); !errors.Is(res.(error), ErrInvalidCommand) {
		t.Fatalf("ApplyCommand(nil) = %v", res)
	}
}

func TestChangedSignal(t *testing.T) {
	f := NewFSM()
	ch := f.Changed()
	if f.Changed() != ch {
		t.Fatal("Changed returned a new channel with nothing published")
	}
	applyOK(t, f, 1, InitCluster{ClusterID: "c"})
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed after an apply")
	}
	if f.Changed() == ch {
		t.Fatal("Changed returned the closed channel")
	}
}
