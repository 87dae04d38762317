package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedGroupConsumer is the lesson's group consumer snippet, verbatim: the tests put the node's
// port in place of 9094 (the port the lesson's compose file publishes).
const seedGroupConsumer = `from kafka import KafkaConsumer


consumer = KafkaConsumer(
    'messages',
    bootstrap_servers=['localhost:9094'],
    auto_offset_reset='earliest',
    group_id='echo-messages-to-stdout',
)

for message in consumer:
    print(message.value)
`

// pyGroupMember is a kafka-python 2.0.2 group member for the tests. Arguments: bootstrap
// address, topic, group, stop file, client id, session timeout in ms. It prints each record
// ("record <partition> <offset> <value>"), its assignment whenever it changes ("assigned 0,2"),
// commits after every poll that returned records, and when the stop file appears commits,
// leaves the group (close) and prints "closed".
const pyGroupMember = `import os, sys
from kafka import KafkaConsumer
from kafka.errors import CommitFailedError

boot, topic, group, stop, name, session = sys.argv[1:7]
consumer = KafkaConsumer(
    topic,
    bootstrap_servers=[boot],
    group_id=group,
    client_id=name,
    auto_offset_reset='earliest',
    enable_auto_commit=False,
    session_timeout_ms=int(session),
    heartbeat_interval_ms=min(300, int(session) // 3),
)
last = None
while not os.path.exists(stop):
    polled = consumer.poll(timeout_ms=100)
    for tp in sorted(polled):
        for m in polled[tp]:
            print('record', m.partition, m.offset, m.value.decode(), flush=True)
    if polled:
        try:
            consumer.commit()
        except CommitFailedError as e:
            print('commit failed:', e, flush=True)
    now = sorted(tp.partition for tp in consumer.assignment())
    if now != last:
        print('assigned', ','.join(map(str, now)), flush=True)
        last = now
consumer.commit()
consumer.close()
print('closed', flush=True)
`

// pyProc is a Python child process whose stdout lines are collected as they come.
type pyProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}

	mu     sync.Mutex
	lines  []string
	stderr bytes.Buffer
}

// startPython runs script with /usr/bin/python3 -c and args, unbuffered (PYTHONUNBUFFERED, so
// that a print is seen at once, without changing the script), killed at the end of the test.
func startPython(t testing.TB, script string, args ...string) *pyProc {
	t.Helper()
	py := needKafkaPython(t)
	p := &pyProc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(py, append([]string{"-c", script}, args...)...)
	p.cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, buf: &p.stderr}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("python %v stdout:\n%s\nstderr:\n%s", args, strings.Join(p.output(), "\n"), p.errors())
		}
	})
	return p
}

func (p *pyProc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

func (p *pyProc) errors() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill sends SIGKILL (no LeaveGroup, no commit) and waits for the process to end.
func (p *pyProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit by itself.
func (p *pyProc) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
		if !p.cmd.ProcessState.Success() {
			p.t.Fatalf("python exited with %v:\n%s", p.cmd.ProcessState, p.errors())
		}
	case <-time.After(timeout):
		p.t.Fatalf("python did not exit within %v; stdout:\n%s", timeout, strings.Join(p.output(), "\n"))
	}
}

func (p *pyProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// assignment is the member's last printed assignment.
func (p *pyProc) assignment() []int32 {
	var last []int32
	for _, l := range p.output() {
		if rest, ok := strings.CutPrefix(l, "assigned "); ok || l == "assigned" {
			last = []int32{}
			for f := range strings.SplitSeq(rest, ",") {
				if n, err := strconv.Atoi(f); err == nil {
					last = append(last, int32(n))
				}
			}
		}
	}
	return last
}

// pyRecord is a record a Python member printed.
type pyRecord struct {
	partition int32
	offset    int64
	value     string
}

func (p *pyProc) records() []pyRecord {
	var out []pyRecord
	for _, l := range p.output() {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "record" {
			continue
		}
		part, _ := strconv.Atoi(f[1])
		off, _ := strconv.ParseInt(f[2], 10, 64)
		out = append(out, pyRecord{int32(part), off, f[3]})
	}
	return out
}

// startPyMember runs pyGroupMember; stop is the file whose creation stops it.
func startPyMember(t testing.TB, addr, topic, group, stop, name string, session time.Duration) *pyProc {
	return startPython(t, pyGroupMember, addr, topic, group, stop, name, fmt.Sprint(session.Milliseconds()))
}

func portOf(t testing.TB, addr string) string {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("no port in %s", addr)
	}
	return addr[i+1:]
}

// TestGroupSeedConsumerSnippet: the lesson's producer snippet, then its group consumer snippet
// (group 'echo-messages-to-stdout', auto_offset_reset='earliest', an endless loop), each
// verbatim but for the port, against a node with default group settings: the consumer prints
// b'my message from python'. The coordinator describes the group with kafka-python's client id,
// and kafka-python's auto commit (every 5 s) lands the offset after the message.
func TestGroupSeedConsumerSnippet(t *testing.T) {
	needKafkaPython(t)
	n := startSingle(t)
	port := portOf(t, n.addr)
	runPython(t, strings.Replace(seedProducer, "localhost:9092", "localhost:"+port, 1), 60*time.Second)

	start := time.Now()
	cons := startPython(t, strings.Replace(seedGroupConsumer, "localhost:9094", "localhost:"+port, 1))
	eventually(t, 40*time.Second, "the seed group consumer to print the message", func() bool {
		if cons.exited() {
			t.Fatalf("the consumer exited: %s", cons.errors())
		}
		return slices.Contains(cons.output(), "b'my message from python'")
	})
	t.Logf("the group consumer printed the message after %v", time.Since(start).Round(time.Millisecond))
	if got := cons.output(); len(got) != 1 {
		t.Errorf("the consumer printed %q, want one line", got)
	}

	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	const group = "echo-messages-to-stdout"
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	g := dg[group]
	if g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" || len(g.Members) != 1 ||
		g.Members[0].ClientID != "kafka-python-2.0.2" || g.Members[0].ClientHost != "/127.0.0.1" {
		t.Errorf("described %s: %+v", group, g)
	}
	eventually(t, 15*time.Second, "kafka-python's auto commit of offset 1", func() bool {
		off, err := fetchCommitted(ctx, adm, group)
		return err == nil && slices.Equal(off, []string{"messages/0=1@-1:"})
	})

	// The commit is a record in Kafka's format in the group's __consumer_offsets partition,
	// abs(Java hashCode) % 50 = 30, where tools that read the topic find it.
	if p := offsetsPartition(group); p != 30 {
		t.Fatalf("offsetsPartition(%q) = %d, want 30", group, p)
	}
	raw := newClient(t, n.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"__consumer_offsets": {30: kgo.NewOffset().AtStart()}}))
	var commits []string
	eventually(t, 10*time.Second, "the commit record in __consumer_offsets/30", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		raw.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var k kmsg.OffsetCommitKey
			var v kmsg.OffsetCommitValue
			if k.ReadFrom(r.Key) == nil && k.Version <= 1 && r.Value != nil && v.ReadFrom(r.Value) == nil {
				commits = append(commits, fmt.Sprintf("%s %s/%d=%d", k.Group, k.Topic, k.Partition, v.Offset))
			}
		})
		return slices.Contains(commits, group+" messages/0=1")
	})
	fmt.Println("seed group consumer printed:", cons.output()[0])
}

// TestGroupSeedConsumerAfterLagMonitor: a sarama client (as sarama-based lag monitors do when
// they start before any group exists) asks for __consumer_offsets' metadata, which auto-creates
// it; then the lesson's producer and group consumer snippets. The topic is created as Kafka
// creates it whoever asks first (offsets.topic.num.partitions = 50, compacted), and the
// consumer prints its message. A __consumer_offsets auto-created with num.partitions (1) left
// the consumer waiting for its coordinator for ever.
func TestGroupSeedConsumerAfterLagMonitor(t *testing.T) {
	needKafkaPython(t)
	n := startSingle(t)
	port := portOf(t, n.addr)

	cfg := sarama.NewConfig()
	cfg.Version = saramaVersion
	cfg.Metadata.AllowAutoTopicCreation = true // sarama's default, said out loud
	client, err := sarama.NewClient([]string{n.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.RefreshMetadata("__consumer_offsets"); err != nil {
		t.Fatalf("sarama metadata for __consumer_offsets: %v", err)
	}

	runPython(t, strings.Replace(seedProducer, "localhost:9092", "localhost:"+port, 1), 60*time.Second)
	cons := startPython(t, strings.Replace(seedGroupConsumer, "localhost:9094", "localhost:"+port, 1))
	eventually(t, 40*time.Second, "the seed group consumer to print the message", func() bool {
		if cons.exited() {
			t.Fatalf("the consumer exited: %s", cons.errors())
		}
		return slices.Contains(cons.output(), "b'my message from python'")
	})

	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	td, err := adm.ListTopicsWithInternal(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if d := td["__consumer_offsets"]; d.Err != nil || !d.IsInternal || len(d.Partitions) != 50 {
		t.Errorf("__consumer_offsets: err %v, internal %v, %d partitions; want 50 internal partitions", d.Err, d.IsInternal, len(d.Partitions))
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := rc.On("__consumer_offsets", nil); err != nil || !slices.ContainsFunc(v.Configs, func(c kadm.Config) bool {
		return c.Key == "cleanup.policy" && c.Value != nil && *c.Value == "compact"
	}) {
		t.Errorf("__consumer_offsets is not compacted: %+v %v", v.Configs, err)
	}
}

// TestGroupPythonSplitAndResume: two kafka-python consumers in one group split a
// three-partition topic (disjoint, non-empty shares covering all three) and each reads exactly
// the records then produced to its own partitions; they commit and leave. Records produced
// after that are all a new member of the group reads: it starts at the committed offsets, not
// at the earliest (its auto_offset_reset).
func TestGroupPythonSplitAndResume(t *testing.T) {
	needKafkaPython(t)
	n := startSingle(t, groupConfig...)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "split", 3, 1)
	prod := manualProducer(t, n.addr)
	for p := range int32(3) {
		produceTo(t, prod, "split", p, fmt.Sprint("early-", p, "-0"), fmt.Sprint("early-", p, "-1"))
	}
	const group = "split-g"
	stop := filepath.Join(t.TempDir(), "stop")
	a := startPyMember(t, n.addr, "split", group, stop, "py-a", 6*time.Second)
	b := startPyMember(t, n.addr, "split", group, stop, "py-b", 6*time.Second)

	start := time.Now()
	var as, bs []int32
	eventually(t, 40*time.Second, "the two consumers to split the partitions", func() bool {
		as, bs = a.assignment(), b.assignment()
		if len(as) == 0 || len(bs) == 0 || len(as)+len(bs) != 3 {
			return false
		}
		for _, p := range as {
			if slices.Contains(bs, p) {
				return false
			}
		}
		dg, err := adm.DescribeGroups(ctx, group)
		return err == nil && dg[group].State == "Stable" && len(dg[group].Members) == 2
	})
	t.Logf("split after %v: py-a %v, py-b %v", time.Since(start).Round(time.Millisecond), as, bs)

	// Each reads what is now produced to its own partitions, and nothing of the other's.
	for p := range int32(3) {
		produceTo(t, prod, "split", p, fmt.Sprint("mid-", p, "-0"), fmt.Sprint("mid-", p, "-1"), fmt.Sprint("mid-", p, "-2"))
	}
	mids := func(pp *pyProc) map[int32]int {
		got := map[int32]int{}
		for _, r := range pp.records() {
			if strings.HasPrefix(r.value, "mid-") {
				got[r.partition]++
			}
		}
		return got
	}
	eventually(t, 20*time.Second, "each consumer to read the records of its partitions", func() bool {
		for _, c := range []struct {
			p    *pyProc
			mine []int32
		}{{a, as}, {b, bs}} {
			got := mids(c.p)
			for _, p := range c.mine {
				if got[p] < 3 {
					return false
				}
			}
		}
		return true
	})
	for _, c := range []struct {
		p    *pyProc
		name string
		mine []int32
	}{{a, "py-a", as}, {b, "py-b", bs}} {
		for p, k := range mids(c.p) {
			if !slices.Contains(c.mine, p) || k != 3 {
				t.Errorf("%s (partitions %v) read %d mid records of partition %d", c.name, c.mine, k, p)
			}
		}
	}
	var all []string
	for _, r := range append(a.records(), b.records()...) {
		all = append(all, r.value)
	}
	for p := range 3 {
		for i := range 2 {
			if v := fmt.Sprint("early-", p, "-", i); !slices.Contains(all, v) {
				t.Errorf("no consumer read %s", v)
			}
		}
	}

	// Stop both: they commit and leave. The group keeps the offsets: 5 in each partition.
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.wait(20 * time.Second)
	b.wait(20 * time.Second)
	off, err := fetchCommitted(ctx, adm, group)
	if want := []string{"split/0=5@-1:", "split/1=5@-1:", "split/2=5@-1:"}; err != nil || !slices.Equal(off, want) {
		t.Fatalf("committed after the consumers stopped: %v %v, want %v", off, err, want)
	}
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil || dg[group].State != "Empty" {
		t.Errorf("group after both left: %v %+v", err, dg[group])
	}

	// A new member reads only what comes after the commits.
	for p := range int32(3) {
		produceTo(t, prod, "split", p, fmt.Sprint("late-", p))
	}
	stop2 := filepath.Join(t.TempDir(), "stop")
	c := startPyMember(t, n.addr, "split", group, stop2, "py-c", 6*time.Second)
	eventually(t, 30*time.Second, "the new member to read the three late records", func() bool {
		return len(c.records()) >= 3
	})
	if err := os.WriteFile(stop2, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.wait(20 * time.Second)
	var got []string
	for _, r := range c.records() {
		got = append(got, fmt.Sprint(r.value, "@", r.offset))
	}
	slices.Sort(got)
	if want := []string{"late-0@5", "late-1@5", "late-2@5"}; !slices.Equal(got, want) {
		t.Errorf("the new member read %v, want %v (from the committed offsets, not the earliest)", got, want)
	}
}

// TestGroupMemberKilledWithoutLeave: a kafka-python member (session timeout 3 s) and a
// franz-go member share a group; the Python process is killed with SIGKILL, so it never sends
// LeaveGroup. After its session times out the group rebalances and the franz-go member owns all
// three partitions, resuming the dead member's partitions at the offsets it committed.
func TestGroupMemberKilledWithoutLeave(t *testing.T) {
	needKafkaPython(t)
	n := startSingle(t, groupConfig...)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "victim", 3, 1)
	const group = "victim-g"
	stop := filepath.Join(t.TempDir(), "stop")
	py := startPyMember(t, n.addr, "victim", group, stop, "py-victim", 3*time.Second)
	eventually(t, 30*time.Second, "the Python member to own all partitions", func() bool {
		return len(py.assignment()) == 3
	})

	// kafka-python offers range and roundrobin: the franz-go member must speak one of them.
	o := newOwnership(t, n.addr, group, "victim", 3)
	survivor := o.join("survivor", kgo.Balancers(kgo.RangeBalancer()))
	var pyParts []int32
	eventually(t, 30*time.Second, "the two members to split the partitions", func() bool {
		pyParts = py.assignment()
		mine := survivor.ownedSet()
		if len(pyParts) == 0 || len(mine) == 0 || len(pyParts)+len(mine) != 3 {
			return false
		}
		for _, p := range mine {
			if slices.Contains(pyParts, p) {
				return false
			}
		}
		dg, err := adm.DescribeGroups(ctx, group)
		return err == nil && dg[group].State == "Stable" && len(dg[group].Members) == 2
	})
	t.Logf("py-victim owns %v, survivor %v", pyParts, survivor.ownedSet())

	// Four records per partition; the Python member reads and commits its own.
	prod := manualProducer(t, n.addr)
	for p := range int32(3) {
		produceTo(t, prod, "victim", p, "pre-0", "pre-1", "pre-2", "pre-3")
	}
	eventually(t, 20*time.Second, "the Python member to commit its partitions", func() bool {
		fo, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		for _, p := range pyParts {
			if r, ok := fo.Lookup("victim", p); !ok || r.At != 4 {
				return false
			}
		}
		return true
	})

	py.kill()
	killed := time.Now()
	eventually(t, 30*time.Second, "the survivor to take over every partition", func() bool {
		ok, _ := o.settled(ctx, adm, survivor)
		return ok
	})
	t.Logf("survivor owns %v %v after the SIGKILL (session timeout 3 s)", survivor.ownedSet(),
		time.Since(killed).Round(time.Millisecond))

	for p := range int32(3) {
		produceTo(t, prod, "victim", p, "post")
	}
	eventually(t, 20*time.Second, "the survivor to read the post records", func() bool {
		survivor.mu.Lock()
		defer survivor.mu.Unlock()
		k := 0
		for _, r := range survivor.records {
			if string(r.Value) == "post" {
				k++
			}
		}
		return k == 3
	})
	survivor.mu.Lock()
	defer survivor.mu.Unlock()
	for _, r := range survivor.records {
		if slices.Contains(pyParts, r.Partition) && string(r.Value) != "post" {
			t.Errorf("survivor re-read %s at %d/%d, which the dead member had committed", r.Value, r.Partition, r.Offset)
		}
	}
}

// TestGroupMemberFrozenMidRebalance: a kafka-python member (session timeout 3 s, rebalance
// timeout 300 s, kafka-python's max_poll_interval_ms) is frozen with SIGSTOP, then a new member
// joins. The frozen member never rejoins; as in Kafka, a member that has not rejoined still
// needs its heartbeats, so it is removed when its session times out and the rebalance completes
// then, not after its rebalance timeout.
func TestGroupMemberFrozenMidRebalance(t *testing.T) {
	needKafkaPython(t)
	n := startSingle(t, groupConfig...)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "frozen", 4, 1)
	const group = "frozen-g"
	py := startPyMember(t, n.addr, "frozen", group, filepath.Join(t.TempDir(), "stop"), "py-frozen", 3*time.Second)
	eventually(t, 30*time.Second, "the Python member to own all partitions", func() bool {
		return len(py.assignment()) == 4
	})
	o := newOwnership(t, n.addr, group, "frozen", 4)
	s := o.join("s", kgo.Balancers(kgo.RangeBalancer()))
	eventually(t, 30*time.Second, "the two members to split the partitions", func() bool {
		return len(s.ownedSet()) == 2 && len(py.assignment()) == 2
	})
	if err := py.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	late := o.join("late", kgo.Balancers(kgo.RangeBalancer()))
	o.waitSettled(adm, "py frozen, late joined", s, late)
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("the frozen member was removed %v after it stopped, before its 3 s session timeout", d)
	}
}
