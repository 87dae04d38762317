package e2e

import (
	"slices"
	"testing"
	"time"
)

// ckTxnScript drives librdkafka's transactional producer (confluent-kafka-python): a committed
// transaction over three partitions, an aborted one, then two consume-transform-produce
// transactions that carry a group's offsets (send_offsets_to_transaction with the consumer's
// group metadata), the first committed, the second aborted. A plain producer then closes each
// partition with "end", so that a consumer that has read "end" has read everything before it.
const ckTxnScript = `
T, IN, G = sys.argv[2], sys.argv[2] + '-in', sys.argv[3]
a = AdminClient(conf())
r = {}
r['created'] = [outcome(a.create_topics([NewTopic(T, 3, 1)], operation_timeout=10)[T]),
                outcome(a.create_topics([NewTopic(IN, 1, 1)], operation_timeout=10)[IN])]

plain = Producer(conf({'acks': 'all'}))
for v in (b'in0', b'in1'):
    plain.produce(IN, value=v, partition=0)
plain.flush(30)

p = Producer(conf({'transactional.id': 'ck-tx', 'transaction.timeout.ms': 30000}))
p.init_transactions(30)

p.begin_transaction()
for i in range(6):
    p.produce(T, value=b'c%d' % i, partition=i % 3)
p.commit_transaction(30)

p.begin_transaction()
for i in range(6):
    p.produce(T, value=b'a%d' % i, partition=(i + 1) % 3)
p.flush(30)
p.abort_transaction(30)

c = Consumer(conf({'group.id': G, 'isolation.level': 'read_committed', 'enable.auto.commit': False,
                   'auto.offset.reset': 'earliest'}))
c.subscribe([IN])
def next_msg(cons):
    deadline = time.time() + 30
    while time.time() < deadline:
        m = cons.poll(0.5)
        if m is not None and not m.error():
            return m
    raise Exception('no message')
r['transform'] = []
for commit in (True, False):
    m = next_msg(c)
    p.begin_transaction()
    p.produce(T, value=b't-' + m.value(), partition=0)
    p.send_offsets_to_transaction([TopicPartition(IN, 0, m.offset() + 1)], c.consumer_group_metadata(), 30)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)  # abort_transaction purges what is not sent yet
        p.abort_transaction(30)
    r['transform'].append([m.value().decode(), commit])
r['committed'] = [tp.offset for tp in c.committed([TopicPartition(IN, 0)], timeout=30)]
c.close()

for part in range(3):
    plain.produce(T, value=b'end', partition=part)
plain.flush(30)

def read_all(level):
    cons = Consumer(conf({'group.id': G + '-' + level, 'isolation.level': level,
                          'enable.auto.commit': False, 'auto.offset.reset': 'earliest'}))
    cons.assign([TopicPartition(T, part, 0) for part in range(3)])
    got = {0: [], 1: [], 2: []}
    deadline = time.time() + 30
    while time.time() < deadline and not all(got[k][-1:] == ['end'] for k in got):
        m = cons.poll(0.5)
        if m is not None and not m.error():
            got[m.partition()].append(m.value().decode())
    cons.close()
    return [got[k] for k in range(3)]
r['read_committed'] = read_all('read_committed')
r['read_uncommitted'] = read_all('read_uncommitted')

# A new instance of the same transactional id fences the old one. librdkafka warns about the
# fencing: those warnings are the zombie's, not complaints.
seen = len(warned.seen)
p2 = Producer(conf({'transactional.id': 'ck-tx'}))
p2.init_transactions(30)
p.begin_transaction()
p.produce(T, value=b'zombie', partition=0)
try:
    p.commit_transaction(30)
    r['zombie'] = None
except KafkaException as e:
    r['zombie'] = e.args[0].name()
r['zombie_warnings'] = warned.seen[seen:]
del warned.seen[seen:]
result(**r)
`

// TestConfluentTransactions runs librdkafka's transactional producer against one node:
// read_committed consumers see the committed transactions only (read_uncommitted sees the aborted
// ones too), offsets sent with a committed transaction are the group's afterwards and those of
// an aborted one are not, and a second producer with the same transactional id fences the first.
func TestConfluentTransactions(t *testing.T) {
	needConfluentKafka(t)
	n := startSingle(t, groupConfig...)
	var r struct {
		ckComplaints
		Created         []*string  `json:"created"`
		Transform       [][]any    `json:"transform"`
		Committed       []int64    `json:"committed"`
		ReadCommitted   [][]string `json:"read_committed"`
		ReadUncommitted [][]string `json:"read_uncommitted"`
		Zombie          *string    `json:"zombie"`
		ZombieWarnings  []string   `json:"zombie_warnings"`
	}
	runConfluent(t, ckTxnScript, 2*time.Minute, &r, n.addr, "ck-txn", "ck-txn-group")
	for _, c := range r.Created {
		if c != nil {
			t.Fatalf("create topics: %v", *c)
		}
	}
	wantRC := [][]string{{"c0", "c3", "t-in0", "end"}, {"c1", "c4", "end"}, {"c2", "c5", "end"}}
	if !slices.EqualFunc(r.ReadCommitted, wantRC, slices.Equal) {
		t.Errorf("read_committed read %q, want %q", r.ReadCommitted, wantRC)
	}
	wantRU := [][]string{
		{"c0", "c3", "a2", "a5", "t-in0", "t-in1", "end"},
		{"c1", "c4", "a0", "a3", "end"},
		{"c2", "c5", "a1", "a4", "end"},
	}
	if !slices.EqualFunc(r.ReadUncommitted, wantRU, slices.Equal) {
		t.Errorf("read_uncommitted read %q, want %q", r.ReadUncommitted, wantRU)
	}
	if len(r.Transform) != 2 || r.Transform[0][0] != "in0" || r.Transform[1][0] != "in1" {
		t.Errorf("the transform read %v, want in0 then in1", r.Transform)
	}
	// in0's transaction committed offset 1; in1's (offset 2) was aborted.
	if !slices.Equal(r.Committed, []int64{1}) {
		t.Errorf("the group's committed offset is %v, want [1]", r.Committed)
	}
	if r.Zombie == nil {
		t.Error("a fenced producer committed")
	} else if *r.Zombie != "_FENCED" && *r.Zombie != "PRODUCER_FENCED" && *r.Zombie != "INVALID_PRODUCER_EPOCH" {
		t.Errorf("the fenced producer's commit failed with %s, want a fencing error", *r.Zombie)
	}
	t.Logf("the fenced producer's warnings: %q", r.ZombieWarnings)
	r.none(t)
}
