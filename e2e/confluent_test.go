package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests in this file drive minikraft with confluent-kafka-python (Debian's
// python3-confluent-kafka, 1.7.0 on librdkafka 2.0.x), the librdkafka-based client most Python
// users of Kafka have. Each script prints its findings as JSON ("result {...}") or as lines the
// test follows while it runs, and the Go side compares them with what Apache Kafka 3.x answers.
// librdkafka logs at WARNING and above when a broker's answer surprises it; every script collects
// those, and a test fails on any it does not expect.

// needConfluentKafka fails unless /usr/bin/python3 can import confluent_kafka.
func needConfluentKafka(t testing.TB) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", "import confluent_kafka; print(confluent_kafka.version()[0])").CombinedOutput()
	if err != nil {
		t.Fatalf("confluent-kafka-python is not importable by /usr/bin/python3: run `apt-get install -y python3-confluent-kafka` (./test.sh does it): %s", out)
	}
	t.Logf("confluent-kafka-python %s", strings.TrimSpace(string(out)))
}

// ckPrelude starts every script: BOOT is the first argument, conf() builds a client config that
// routes librdkafka's log and error callbacks into `warnings` and `errors`, outcome() turns an
// admin future into None or the Kafka error's name, result() prints the JSON the test decodes.
const ckPrelude = `import json, logging, os, sys, time
from confluent_kafka import Producer, Consumer, TopicPartition, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource

BOOT = sys.argv[1]

class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []
    def emit(self, rec):
        self.seen.append(rec.getMessage())

warned = Collect()
rdlog = logging.getLogger('librdkafka')
rdlog.addHandler(warned)
rdlog.setLevel(logging.WARNING)
errors = []

def conf(extra=None):
    c = {'bootstrap.servers': BOOT, 'logger': rdlog, 'error_cb': lambda e: errors.append(str(e))}
    c.update(extra or {})
    return c

def outcome(f):
    try:
        f.result()
        return None
    except KafkaException as e:
        return e.args[0].name()

def result(**kw):
    kw['warnings'] = warned.seen
    kw['errors'] = errors
    print('result', json.dumps(kw), flush=True)
`

// runConfluent runs a script (after ckPrelude) to its end and decodes its "result" line into v.
func runConfluent(t testing.TB, script string, timeout time.Duration, v any, args ...string) {
	t.Helper()
	p := startPython(t, ckPrelude+script, args...)
	p.wait(timeout)
	for _, l := range p.output() {
		if js, ok := strings.CutPrefix(l, "result "); ok {
			if err := json.Unmarshal([]byte(js), v); err != nil {
				t.Fatalf("decoding %s: %v", js, err)
			}
			return
		}
	}
	t.Fatalf("no result from the script; stdout:\n%s\nstderr:\n%s", strings.Join(p.output(), "\n"), p.errors())
}

// ckComplaints are the librdkafka warnings and error callbacks a script collected.
type ckComplaints struct {
	Warnings []string `json:"warnings"`
	Errors   []string `json:"errors"`
}

// none fails the test on any complaint: against a running broker librdkafka has none.
func (c ckComplaints) none(t testing.TB) {
	t.Helper()
	if len(c.Warnings)+len(c.Errors) > 0 {
		t.Errorf("librdkafka complained:\nwarnings: %q\nerrors: %q", c.Warnings, c.Errors)
	}
}

// cfgVal is a config entry as [value, source] (librdkafka's ConfigSource numbers: 1 dynamic
// topic, 2 dynamic broker, 4 static broker, 5 default).
type cfgVal [2]any

func cv(value string, source int) cfgVal { return cfgVal{value, float64(source)} }

const ckAdminScript = `
a = AdminClient(conf())
T = sys.argv[2]
seed = {'min.insync.replicas': '1', 'cleanup.policy': 'delete', 'retention.ms': '86400000'}
r = {}
r['validate_only'] = outcome(a.create_topics([NewTopic(T, 3, 1, config=seed)], validate_only=True)[T])
r['listed_after_validate'] = T in a.list_topics(timeout=10).topics
r['create'] = outcome(a.create_topics([NewTopic(T, 3, 1, config=seed)], operation_timeout=10)[T])
r['create_again'] = outcome(a.create_topics([NewTopic(T, 3, 1)])[T])
r['create_rf3'] = outcome(a.create_topics([NewTopic(T + '-rf3', 1, 3)])[T + '-rf3'])
r['create_bad_config'] = outcome(a.create_topics([NewTopic(T + '-bad', 1, 1, config={'retention.ms': 'soon'})])[T + '-bad'])

md = a.list_topics(timeout=10)
r['brokers'] = sorted([b.id, b.host, b.port] for b in md.brokers.values())
r['controller'] = md.controller_id
r['cluster_id'] = md.cluster_id
r['partitions'] = sorted([p.id, p.leader, p.replicas, p.isrs] for p in md.topics[T].partitions.values())
r['topic_error'] = md.topics[T].error and md.topics[T].error.name()

NAMES = ['cleanup.policy', 'retention.ms', 'min.insync.replicas', 'segment.bytes', 'max.message.bytes']
def describe(res, names):
    got = a.describe_configs([res])[res].result()
    return {n: [got[n].value, got[n].source] for n in names}
r['configs'] = describe(ConfigResource('topic', T), NAMES)
r['broker_configs'] = describe(ConfigResource('broker', '0'), ['node.id', 'broker.id', 'num.partitions', 'log.retention.hours', 'min.insync.replicas'])

# AlterConfigs (the non-incremental API librdkafka 1.7 has) replaces the topic's whole set.
alter = ConfigResource('topic', T, set_config={'retention.ms': '3600000'})
r['alter'] = outcome(a.alter_configs([alter])[alter])
r['configs_after_alter'] = describe(ConfigResource('topic', T), NAMES)
bad = ConfigResource('topic', T, set_config={'retention.ms': 'later'})
r['alter_bad'] = outcome(a.alter_configs([bad])[bad])

r['add_partitions'] = outcome(a.create_partitions([NewPartitions(T, 5)], operation_timeout=10)[T])
r['partitions_after_add'] = sorted(a.list_topics(T, timeout=10).topics[T].partitions)
r['shrink_partitions'] = outcome(a.create_partitions([NewPartitions(T, 2)])[T])

r['delete'] = outcome(a.delete_topics([T], operation_timeout=10)[T])
deadline = time.time() + 5
while T in a.list_topics(timeout=10).topics and time.time() < deadline:
    time.sleep(0.05)
r['listed_after_delete'] = T in a.list_topics(timeout=10).topics
r['delete_unknown'] = outcome(a.delete_topics([T])[T])
a.poll(0)
result(**r)
`

// TestConfluentAdmin: AdminClient against one node: create_topics with the seed's configs
// (validate_only first, then for real; an existing name, an impossible replication factor and a
// bad value are refused with Kafka's errors), list_topics, describe_configs of the topic and the
// broker (values and sources), alter_configs (which replaces the topic's whole config set, as
// Kafka's AlterConfigs does), create_partitions and delete_topics.
func TestConfluentAdmin(t *testing.T) {
	needConfluentKafka(t)
	n := startSingle(t)
	var r struct {
		ckComplaints
		ValidateOnly        *string           `json:"validate_only"`
		ListedAfterValidate bool              `json:"listed_after_validate"`
		Create              *string           `json:"create"`
		CreateAgain         string            `json:"create_again"`
		CreateRF3           string            `json:"create_rf3"`
		CreateBadConfig     string            `json:"create_bad_config"`
		Brokers             [][]any           `json:"brokers"`
		Controller          int               `json:"controller"`
		ClusterID           string            `json:"cluster_id"`
		Partitions          [][]any           `json:"partitions"`
		TopicError          *string           `json:"topic_error"`
		Configs             map[string]cfgVal `json:"configs"`
		BrokerConfigs       map[string]cfgVal `json:"broker_configs"`
		Alter               *string           `json:"alter"`
		ConfigsAfterAlter   map[string]cfgVal `json:"configs_after_alter"`
		AlterBad            string            `json:"alter_bad"`
		AddPartitions       *string           `json:"add_partitions"`
		PartitionsAfterAdd  []int             `json:"partitions_after_add"`
		ShrinkPartitions    string            `json:"shrink_partitions"`
		Delete              *string           `json:"delete"`
		ListedAfterDelete   bool              `json:"listed_after_delete"`
		DeleteUnknown       string            `json:"delete_unknown"`
	}
	runConfluent(t, ckAdminScript, 40*time.Second, &r, n.addr, "ck-admin")
	r.none(t)

	for what, err := range map[string]*string{"validate_only": r.ValidateOnly, "create": r.Create, "alter": r.Alter,
		"create_partitions": r.AddPartitions, "delete": r.Delete, "topic metadata": r.TopicError} {
		if err != nil {
			t.Errorf("%s: %s", what, *err)
		}
	}
	if r.ListedAfterValidate {
		t.Error("validate_only created the topic")
	}
	for what, got := range map[string][2]string{
		"create an existing topic":       {r.CreateAgain, "TOPIC_ALREADY_EXISTS"},
		"create with RF 3 on one broker": {r.CreateRF3, "INVALID_REPLICATION_FACTOR"},
		"create with retention.ms=soon":  {r.CreateBadConfig, "INVALID_CONFIG"},
		"alter to retention.ms=later":    {r.AlterBad, "INVALID_CONFIG"},
		"shrink to 2 partitions":         {r.ShrinkPartitions, "INVALID_PARTITIONS"},
		"delete a deleted topic":         {r.DeleteUnknown, "UNKNOWN_TOPIC_OR_PART"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %q, want %s", what, got[0], got[1])
		}
	}

	port, _ := strconv.Atoi(portOf(t, n.addr))
	if want := [][]any{{0.0, "127.0.0.1", float64(port)}}; !reflect.DeepEqual(r.Brokers, want) {
		t.Errorf("brokers %v, want %v", r.Brokers, want)
	}
	if r.Controller != 0 || r.ClusterID == "" {
		t.Errorf("controller %d, cluster id %q", r.Controller, r.ClusterID)
	}
	one := []any{0.0}
	if want := [][]any{{0.0, 0.0, one, one}, {1.0, 0.0, one, one}, {2.0, 0.0, one, one}}; !reflect.DeepEqual(r.Partitions, want) {
		t.Errorf("partitions [id leader replicas isrs] %v, want %v", r.Partitions, want)
	}

	// topicCfg is the topic's five described configs: three given, two always defaults.
	topicCfg := func(cleanup, retention, minISR cfgVal) map[string]cfgVal {
		return map[string]cfgVal{"cleanup.policy": cleanup, "retention.ms": retention, "min.insync.replicas": minISR,
			"segment.bytes": cv("1073741824", 5), "max.message.bytes": cv("1048588", 5)}
	}
	for _, c := range []struct {
		what      string
		got, want map[string]cfgVal
	}{
		{"topic configs [value source]", r.Configs, topicCfg(cv("delete", 1), cv("86400000", 1), cv("1", 1))},
		// AlterConfigs with retention.ms alone: the other overrides are gone (DEFAULT_CONFIG).
		{"topic configs after alter_configs", r.ConfigsAfterAlter, topicCfg(cv("delete", 5), cv("3600000", 1), cv("1", 5))},
		// node.id comes from --node-id (STATIC_BROKER_CONFIG); Kafka copies it to broker.id.
		{"broker configs", r.BrokerConfigs, map[string]cfgVal{"node.id": cv("0", 4), "broker.id": cv("0", 4),
			"num.partitions": cv("1", 5), "log.retention.hours": cv("168", 5), "min.insync.replicas": cv("1", 5)}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s %v, want %v", c.what, c.got, c.want)
		}
	}
	if !slices.Equal(r.PartitionsAfterAdd, []int{0, 1, 2, 3, 4}) {
		t.Errorf("partitions after create_partitions(5): %v", r.PartitionsAfterAdd)
	}
	if r.ListedAfterDelete {
		t.Error("the deleted topic is still listed after 5 s")
	}
}

// ckRecord is a record as a delivery report or a consumer saw it.
type ckRecord struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp int64  `json:"ts"`
	TSType    int    `json:"ts_type"`
}

const ckProduceConsumeScript = `
T, G = sys.argv[2], sys.argv[3]
a = AdminClient(conf())
created = outcome(a.create_topics([NewTopic(T, 3, 1, config={'cleanup.policy': 'delete', 'retention.ms': '86400000'})], operation_timeout=10)[T])

def rec(m):
    ts_type, ts = m.timestamp()
    return {'key': m.key().decode(), 'value': m.value().decode(), 'partition': m.partition(), 'offset': m.offset(), 'ts': ts, 'ts_type': ts_type}

reports, report_errors = [], []
def on_delivery(err, m):
    if err:
        report_errors.append(str(err))
    else:
        reports.append(rec(m))

p = Producer(conf({'enable.idempotence': True, 'acks': 'all', 'linger.ms': 5}))
base = (int(time.time()) - 120) * 1000
for i in range(30):
    p.produce(T, key='k%d' % (i % 6), value='v%d' % i, timestamp=base + i * 1000, on_delivery=on_delivery)
unflushed = p.flush(10)

def consume(c, n, extra_wait):
    got, deadline = [], time.time() + 15
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(rec(m))
    end = time.time() + extra_wait
    while time.time() < end:
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            got.append(rec(m))
    return got

tps = [TopicPartition(T, i) for i in range(3)]
def offsets(l):
    return [[tp.partition, tp.offset, tp.error and tp.error.name()] for tp in l]
def group():
    gs = a.list_groups(G, timeout=10)
    return [[g.state, g.protocol_type, g.protocol, sorted(m.client_id for m in g.members)] for g in gs]

# A caught-up consumer's fetch waits fetch.wait.max.ms on the broker, and a ListOffsets queued
# behind it on the same connection waits too (Kafka serves one request per connection at a
# time): a short wait keeps the many offset queries below quick.
c1 = Consumer(conf({'group.id': G, 'client.id': 'ck-first', 'auto.offset.reset': 'earliest', 'enable.auto.commit': False, 'fetch.wait.max.ms': 100}))
c1.subscribe([T])
first = consume(c1, 30, 0.5)
position = offsets(c1.position(tps))
commit = offsets(c1.commit(asynchronous=False))
committed = offsets(c1.committed(tps, timeout=10))
watermarks = [list(c1.get_watermark_offsets(tp, timeout=10)) for tp in tps]
queries, for_times = [], []
for d in (-5000, 0, 10500, 29000, 29001):
    queries += [[part, base + d] for part in range(3)]
    for_times += [[tp.partition, tp.offset] for tp in c1.offsets_for_times([TopicPartition(T, part, base + d) for part in range(3)], timeout=10)]
group_live = group()
c1.close()
group_left = group()

for i in range(3):
    p.produce(T, key='k%d' % i, value='w%d' % i, on_delivery=on_delivery)
unflushed += p.flush(10)

c2 = Consumer(conf({'group.id': G, 'client.id': 'ck-second', 'auto.offset.reset': 'earliest', 'enable.auto.commit': False}))
committed_before = offsets(c2.committed(tps, timeout=10))
c2.subscribe([T])
second = consume(c2, 3, 1.0)
c2.commit(asynchronous=False)
committed_after = offsets(c2.committed(tps, timeout=10))
c2.close()
a.poll(0)
result(created=created, base=base, unflushed=unflushed, reports=reports, report_errors=report_errors,
       first=first, position=position, commit=commit, committed=committed, watermarks=watermarks,
       queries=queries, for_times=for_times, group_live=group_live, group_left=group_left,
       committed_before=committed_before, second=second, committed_after=committed_after)
`

// TestConfluentProduceConsume: an idempotent acks=all Producer writes 30 keyed records with
// timestamps; every delivery report names the partition librdkafka's default partitioner picks
// (CRC32 of the key) and the next offset there. A group Consumer (earliest, manual commit) reads
// them back exactly; position(), commit(), committed(), get_watermark_offsets() and
// offsets_for_times() give Kafka's numbers; list_groups shows the live member, then an empty
// group. Three more records go to a second consumer of the group, which starts from the commit.
func TestConfluentProduceConsume(t *testing.T) {
	needConfluentKafka(t)
	n := startSingle(t, groupConfig...)
	var r struct {
		ckComplaints
		Created         *string    `json:"created"`
		Base            int64      `json:"base"`
		Unflushed       int        `json:"unflushed"`
		Reports         []ckRecord `json:"reports"`
		ReportErrors    []string   `json:"report_errors"`
		First           []ckRecord `json:"first"`
		Position        [][]any    `json:"position"`
		Commit          [][]any    `json:"commit"`
		Committed       [][]any    `json:"committed"`
		Watermarks      [][]int64  `json:"watermarks"`
		Queries         [][]int64  `json:"queries"`
		ForTimes        [][]int64  `json:"for_times"`
		GroupLive       [][]any    `json:"group_live"`
		GroupLeft       [][]any    `json:"group_left"`
		CommittedBefore [][]any    `json:"committed_before"`
		Second          []ckRecord `json:"second"`
		CommittedAfter  [][]any    `json:"committed_after"`
	}
	runConfluent(t, ckProduceConsumeScript, 50*time.Second, &r, n.addr, "ck-orders", "ck-group")
	r.none(t)
	if r.Created != nil || r.Unflushed != 0 || len(r.ReportErrors) > 0 {
		t.Fatalf("create %s, unflushed %d, delivery errors %q", *cmp.Or(r.Created, new(string)), r.Unflushed, r.ReportErrors)
	}

	// What Kafka assigns: partition = CRC32(key) % 3 (librdkafka's consistent_random), offsets
	// 0, 1, ... per partition in produce order, the producer's CreateTime (type 1) kept.
	var want, more []ckRecord
	next := map[int32]int64{}
	add := func(to *[]ckRecord, key, value string, ts int64) {
		p := int32(crc32.ChecksumIEEE([]byte(key)) % 3)
		*to = append(*to, ckRecord{Key: key, Value: value, Partition: p, Offset: next[p], Timestamp: ts, TSType: 1})
		next[p]++
	}
	for i := range 30 {
		add(&want, fmt.Sprintf("k%d", i%6), fmt.Sprintf("v%d", i), r.Base+int64(i)*1000)
	}
	firstEnds := [][]any{}
	for p := range int32(3) {
		firstEnds = append(firstEnds, []any{float64(p), float64(next[p]), nil})
	}
	for i := range 3 {
		add(&more, fmt.Sprintf("k%d", i), fmt.Sprintf("w%d", i), 0)
	}
	byPlace := func(rs []ckRecord, zeroTS bool) []ckRecord {
		out := slices.Clone(rs)
		for i := range out {
			if zeroTS && out[i].Value[0] == 'w' {
				out[i].Timestamp = 0 // produced without a timestamp: the producer's clock
			}
		}
		slices.SortFunc(out, func(a, b ckRecord) int {
			return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
		})
		return out
	}
	if got := byPlace(r.Reports, true); !reflect.DeepEqual(got, byPlace(append(want, more...), false)) {
		t.Errorf("delivery reports\n got %+v\nwant %+v", got, byPlace(append(want, more...), false))
	}
	if got := byPlace(r.First, false); !reflect.DeepEqual(got, byPlace(want, false)) {
		t.Errorf("first consumer read\n got %+v\nwant %+v", got, byPlace(want, false))
	}
	if got := byPlace(r.Second, true); !reflect.DeepEqual(got, byPlace(more, false)) {
		t.Errorf("second consumer read\n got %+v\nwant %+v (only what came after the commit)", got, byPlace(more, false))
	}
	for what, got := range map[string][][]any{"position": r.Position, "commit": r.Commit, "committed": r.Committed, "committed by a new consumer": r.CommittedBefore} {
		if !reflect.DeepEqual(got, firstEnds) {
			t.Errorf("%s %v, want %v", what, got, firstEnds)
		}
	}
	for p, wm := range r.Watermarks {
		if end := int64(firstEnds[p][1].(float64)); !slices.Equal(wm, []int64{0, end}) {
			t.Errorf("watermarks of partition %d: %v, want [0 %d]", p, wm, end)
		}
	}
	// offsets_for_times: the first offset with a timestamp at or after the one asked, else -1.
	for i, q := range r.Queries {
		wantOff := int64(-1)
		for _, rec := range byPlace(want, false) {
			if int64(rec.Partition) == q[0] && rec.Timestamp >= q[1] {
				wantOff = rec.Offset
				break
			}
		}
		if got := r.ForTimes[i]; !slices.Equal(got, []int64{q[0], wantOff}) {
			t.Errorf("offsets_for_times(partition %d, base%+d ms) = %v, want offset %d", q[0], q[1]-r.Base, got, wantOff)
		}
	}
	if want := [][]any{{"Stable", "consumer", "range", []any{"ck-first"}}}; !reflect.DeepEqual(r.GroupLive, want) {
		t.Errorf("list_groups with a member: %v, want %v", r.GroupLive, want)
	}
	if want := [][]any{{"Empty", "consumer", "", []any{}}}; !reflect.DeepEqual(r.GroupLeft, want) {
		t.Errorf("list_groups after close: %v, want %v", r.GroupLeft, want)
	}
	var afterSecond [][]any
	for p := range int32(3) {
		afterSecond = append(afterSecond, []any{float64(p), float64(next[p]), nil})
	}
	if !reflect.DeepEqual(r.CommittedAfter, afterSecond) {
		t.Errorf("committed after the second consumer %v, want %v", r.CommittedAfter, afterSecond)
	}
}

const ckClusterScript = `
T, STOP, STOPPED = sys.argv[2], sys.argv[3], int(sys.argv[4])
a = AdminClient(conf())
seed = {'min.insync.replicas': '2', 'cleanup.policy': 'delete', 'retention.ms': '86400000'}
print('created', outcome(a.create_topics([NewTopic(T, 3, 3, config=seed)], operation_timeout=10)[T]), flush=True)
res = ConfigResource('topic', T)
got = a.describe_configs([res])[res].result()
print('config', json.dumps({n: [got[n].value, got[n].source] for n in seed}), flush=True)

def on_delivery(err, m):
    if err:
        print('error', m.value().decode(), err, flush=True)
    else:
        print('ack', m.partition(), m.offset(), m.value().decode(), flush=True)

p = Producer(conf({'enable.idempotence': True, 'acks': 'all', 'linger.ms': 2}))
i = 0
while not os.path.exists(STOP):
    p.produce(T, key='k%d' % (i % 10), value='n%d' % i, on_delivery=on_delivery)
    i += 1
    p.poll(0.002)
print('unflushed', p.flush(30), 'sent', i, flush=True)

# A topic placed by hand on the stopped node alone: Kafka refuses the assignment (validate_only
# asks without creating). The node is fenced a moment after it stopped, hence the retries.
on_stopped = NewTopic(T + '-on-stopped', 1, replica_assignment=[[STOPPED]])
deadline = time.time() + 10
while True:
    err = outcome(a.create_topics([on_stopped], validate_only=True)[on_stopped.topic])
    if err == 'INVALID_REPLICA_ASSIGNMENT' or time.time() > deadline:
        break
    time.sleep(0.1)
print('assigned_to_stopped', err, flush=True)

# Read everything back from the beginning of each partition up to its high watermark.
c = Consumer(conf({'group.id': T + '-check', 'enable.auto.commit': False}))
ends = [c.get_watermark_offsets(TopicPartition(T, part), timeout=10)[1] for part in range(3)]
c.assign([TopicPartition(T, part, 0) for part in range(3) if ends[part] > 0])
left, deadline = sum(ends), time.time() + 20
while left > 0 and time.time() < deadline:
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        print('read', m.partition(), m.offset(), m.value().decode(), flush=True)
        left -= 1
c.close()
a.poll(0)
result()
`

// TestConfluentClusterProducerSurvivesStop: on three processes, AdminClient creates the seed's
// topic (3 partitions, RF 3, min.insync.replicas=2); an idempotent acks=all Producer writes
// keyed records without pause while one node is stopped (SIGTERM). Writes go on: hundreds more
// are acknowledged after the stop, none fails, and a Consumer reads every acknowledged record
// back exactly once, at the partition and offset its delivery report named. A topic placed by
// hand on the stopped node alone is refused with INVALID_REPLICA_ASSIGNMENT, as Kafka refuses it.
// librdkafka's only complaints are about the stopped node's connection.
func TestConfluentClusterProducerSurvivesStop(t *testing.T) {
	needConfluentKafka(t)
	c := startCluster(t, 3)
	stop := filepath.Join(t.TempDir(), "stop")
	const victimID = 1
	p := startPython(t, ckPrelude+ckClusterScript, strings.Join(c.addrs(), ","), "ck-seed", stop, fmt.Sprint(victimID))

	acks := func() (n int) {
		for _, l := range p.output() {
			if strings.HasPrefix(l, "ack ") {
				n++
			}
		}
		return n
	}
	exitedEarly := func() bool {
		if p.exited() {
			t.Fatalf("the producer exited: %s", p.errors())
		}
		return false
	}
	eventually(t, 20*time.Second, "200 acknowledged records", func() bool { return !exitedEarly() && acks() >= 200 })
	victim := c.nodes[victimID]
	victim.stop()
	before := acks()
	eventually(t, 20*time.Second, "300 more records acknowledged with a node stopped", func() bool { return !exitedEarly() && acks() >= before+300 })
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.wait(40 * time.Second)

	acked := map[string]string{} // value -> "partition offset"
	read := map[string][]string{}
	var out struct{ ckComplaints }
	for _, l := range p.output() {
		f := strings.Fields(l)
		switch {
		case f[0] == "created" && l != "created None":
			t.Errorf("create_topics: %s", l)
		case f[0] == "config":
			want := `{"min.insync.replicas": ["2", 1], "cleanup.policy": ["delete", 1], "retention.ms": ["86400000", 1]}`
			if got := strings.TrimPrefix(l, "config "); got != want {
				t.Errorf("described %s, want %s", got, want)
			}
		case f[0] == "error":
			t.Errorf("delivery failed: %s", l)
		case f[0] == "unflushed" && f[1] != "0":
			t.Errorf("%s", l)
		case f[0] == "assigned_to_stopped" && f[1] != "INVALID_REPLICA_ASSIGNMENT":
			t.Errorf("create_topics placed on the stopped node only: %s, want INVALID_REPLICA_ASSIGNMENT", f[1])
		case f[0] == "ack":
			acked[f[3]] = f[1] + " " + f[2]
		case f[0] == "read":
			read[f[3]] = append(read[f[3]], f[1]+" "+f[2])
		case f[0] == "result":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "result ")), &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d records acknowledged, %d after node 1 stopped", len(acked), len(acked)-before)
	for v, at := range acked {
		if got := read[v]; len(got) != 1 || got[0] != at {
			t.Errorf("acknowledged %s at %s, read back at %v", v, at, got)
		}
	}
	if len(read) != len(acked) {
		t.Errorf("read %d distinct records, %d were acknowledged", len(read), len(acked))
	}
	// The stopped node's connections fail, and librdkafka says so; nothing else is expected.
	var other []string
	for _, w := range append(out.Warnings, out.Errors...) {
		if !strings.Contains(w, victim.addr) && !strings.Contains(w, "1/1 brokers are down") {
			other = append(other, w)
		}
	}
	if len(other) > 0 {
		t.Errorf("librdkafka complained: %q", other)
	}
}
