package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The seed lesson's Python snippets, verbatim: its compose files publish the EXTERNAL listener on
// localhost:9094. The consumer loops forever, so it runs under runPythonUntil.
const (
	composeSeedProducer = `from kafka import KafkaProducer
from time import sleep


producer = KafkaProducer(bootstrap_servers=['localhost:9094'])

producer.send(
    topic='messages',
    value=b'my message from python',
    key=b'python-message',
)

sleep(1)
`
	composeSeedConsumer = `from kafka import KafkaConsumer


consumer = KafkaConsumer(
    'messages',
    bootstrap_servers=['localhost:9094'],
    auto_offset_reset='earliest',
    group_id='echo-messages-to-stdout',
)

for message in consumer:
    print(message.value)
`
	seedValue   = "my message from python"
	seedPrinted = "b'my message from python'"
)

// createTopicScript is the README's topic creation (the lesson does it in kafka-ui, which cannot
// be pulled here): 3 partitions, cleanup.policy=delete, retention.ms=86400000, through
// 127.0.0.1:9094, with RF 3 and min.insync.replicas=2 on three nodes.
func createTopicScript(rf, minISR int) string {
	return fmt.Sprintf(`from kafka.admin import KafkaAdminClient, NewTopic

admin = KafkaAdminClient(bootstrap_servers=['127.0.0.1:9094'])
admin.create_topics([NewTopic(
    name='messages',
    num_partitions=3,
    replication_factor=%d,
    topic_configs={
        'min.insync.replicas': '%d',
        'cleanup.policy': 'delete',
        'retention.ms': '86400000',
    },
)])
`, rf, minISR)
}

// TestDockerSingleNodeSeed runs the lesson's first step: docker-compose.single.yml (the seed's
// one-node file with only the image changed) on the image scripts/build-image.sh builds. It
// creates the lesson's topic, runs the producer and group consumer snippets unchanged, then takes
// the project down and up again, keeping the named volume, and finds the message and the group's
// committed offset still there.
func TestDockerSingleNodeSeed(t *testing.T) {
	needDocker(t)
	needKafkaPython(t)
	needPortsFree(t, 9094)
	buildImage(t)

	p := startCompose(t, "docker-compose.single.yml")
	p.waitHealthy(90*time.Second, "kafka-0")
	ctx := flowContext(t, 3*time.Minute)

	runPython(t, createTopicScript(1, 1), 60*time.Second)
	checkSeedTopic(t, ctx, "127.0.0.1:9094", 1, "1")
	runPython(t, composeSeedProducer, 60*time.Second)
	runPythonUntil(t, composeSeedConsumer, seedPrinted, 60*time.Second)
	fmt.Println("seed consumer printed (docker, one node):", seedPrinted)

	// A group commit, so that the restart checks __consumer_offsets as well as the topic.
	commitMessagesGroup(t, ctx, "127.0.0.1:9094", "e2e-committed")

	mem := p.memory("kafka-0")
	fmt.Printf("memory after the seed flow (docker stats, one node):\n%s\n", mem)

	// `down` removes the container and network but keeps the named volume kafka_0_data.
	p.run("down", "--timeout", "20")
	p.run("up", "-d")
	p.waitHealthy(90*time.Second, "kafka-0")

	readMessages(t, ctx, "127.0.0.1:9094", seedValue)
	if off := committedMessages(t, ctx, "127.0.0.1:9094", "e2e-committed"); off != 1 {
		t.Errorf("group e2e-committed: %d records committed after down/up, want 1", off)
	}
	// The unchanged snippet under a new group: a fresh group coordinator after the restart.
	runPythonUntil(t, strings.Replace(composeSeedConsumer, "echo-messages-to-stdout", "after-restart", 1), seedPrinted, 60*time.Second)
}

// TestDockerThreeNodeSeed is the Must-show on docker-compose.yml, the seed's three-node
// file with only the image changed: three healthy nodes and the ui service; the lesson's topic
// (RF 3, min ISR 2) created in the console on 127.0.0.1:8080, as the lesson does in kafka-ui;
// the producer and group consumer snippets unchanged, and their message and group seen in the
// console; with kafka-1 stopped, acks=all writes through 9094 and 9096 succeed and are read
// back; kafka-1 rejoins and catches up; `down` and `up` keep the data; docker stats memory is printed.
func TestDockerThreeNodeSeed(t *testing.T) {
	needDocker(t)
	needKafkaPython(t)
	needPortsFree(t, 9094, 9095, 9096, 8080) // 8080: the ui service (minikraft console)
	buildImage(t)

	nodes := []string{"kafka-0", "kafka-1", "kafka-2"}
	p := startCompose(t, "docker-compose.yml")
	p.waitHealthy(2*time.Minute, nodes...)
	ctx := flowContext(t, 6*time.Minute)
	waitMetadataBrokers(t, ctx, "127.0.0.1:9094", 3)

	// The lesson creates its topic in the UI: here the compose file's ui service, minikraft's
	// console, on http://127.0.0.1:8080.
	p.waitHealthy(time.Minute, "ui")
	ui := newConsoleClient(t, "http://127.0.0.1:8080")
	consoleCreateLessonTopic(t, ctx, ui, "3", "2")
	checkSeedTopic(t, ctx, "127.0.0.1:9094", 3, "2")
	runPython(t, composeSeedProducer, 60*time.Second)
	runPythonUntil(t, composeSeedConsumer, seedPrinted, 90*time.Second)
	fmt.Println("seed consumer printed (docker, three nodes):", seedPrinted)
	// And looks at it there: the topic, its message, the consumer's group.
	consoleShowsLesson(t, ctx, ui, "python-message", seedValue, "echo-messages-to-stdout")

	// One node down: RF 3 with min ISR 2 still takes acks=all writes, through either survivor.
	p.run("stop", "kafka-1")
	want := []string{seedValue}
	for _, addr := range []string{"127.0.0.1:9094", "127.0.0.1:9096"} {
		start := time.Now()
		want = append(want, produceAcksAllMessages(t, ctx, addr, 30)...)
		// Slow here means the stopped node stayed in an ISR until replica.lag.time.max.ms.
		t.Logf("30 acks=all writes through %s with kafka-1 stopped took %v", addr, time.Since(start).Round(10*time.Millisecond))
	}
	readMessages(t, ctx, "127.0.0.1:9094", want...)
	// Those acknowledgements are only honest if kafka-1, which cannot have the records, left
	// every ISR first (the leaders shrink it through the controller; Metadata may lag a little).
	waitMessagesISR(t, ctx, "127.0.0.1:9094", "kafka-1 out of every ISR", func(isr []int32) bool { return !slices.Contains(isr, 1) })

	// kafka-1 rejoins and catches up: every partition back to three in-sync replicas.
	p.run("start", "kafka-1")
	p.waitHealthy(2*time.Minute, "kafka-1")
	waitMessagesFullISR(t, ctx, "127.0.0.1:9094", 3)
	readMessages(t, ctx, "127.0.0.1:9095", want...)

	mem := p.memory(nodes...)
	fmt.Printf("memory after the seed flow (docker stats, three nodes):\n%s\n", mem)

	p.run("down", "--timeout", "20")
	p.run("up", "-d")
	p.waitHealthy(2*time.Minute, nodes...)
	waitMetadataBrokers(t, ctx, "127.0.0.1:9094", 3)
	readMessages(t, ctx, "127.0.0.1:9094", want...)
	waitMessagesFullISR(t, ctx, "127.0.0.1:9094", 3)
}

// flowContext bounds a whole compose flow, restarts included; testContext's minute is too short.
func flowContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkSeedTopic checks what the topic creation script made: 3 partitions with rf replicas each and
// the lesson's configs, as a Kafka admin client sees them.
func checkSeedTopic(t *testing.T, ctx context.Context, addr string, rf int, minISR string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	td, err := adm.ListTopics(ctx, "messages")
	if err != nil {
		t.Fatal(err)
	}
	d := td["messages"]
	if d.Err != nil || len(d.Partitions) != 3 {
		t.Fatalf("topic messages: %v, %d partitions, want 3", d.Err, len(d.Partitions))
	}
	for _, pd := range d.Partitions {
		if len(pd.Replicas) != rf {
			t.Errorf("partition %d: replicas %v, want %d", pd.Partition, pd.Replicas, rf)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "messages")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("messages", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs: %v %v", err, rc.Err)
	}
	want := map[string]string{"min.insync.replicas": minISR, "cleanup.policy": "delete", "retention.ms": "86400000"}
	for _, c := range rc.Configs {
		if w, ok := want[c.Key]; ok {
			if c.MaybeValue() != w {
				t.Errorf("config %s = %q, want %q", c.Key, c.MaybeValue(), w)
			}
			delete(want, c.Key)
		}
	}
	if len(want) != 0 {
		t.Errorf("configs not described: %v", want)
	}
}

// commitMessagesGroup joins group, reads 'messages' from the start and commits synchronously what it read.
func commitMessagesGroup(t *testing.T, ctx context.Context, addr, group string) {
	t.Helper()
	cl := dialOwned(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics("messages"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	defer cl.Close() // leave the group now, not at the test's end
	got := 0
	for got == 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("group %s: %v", group, err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("group %s commit: %v", group, err)
	}
}

// committedMessages is the sum of group's committed offsets on 'messages'.
func committedMessages(t *testing.T, ctx context.Context, addr, group string) int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	var sum int64
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == "messages" && o.Err == nil {
			sum += o.At
		}
	})
	return sum
}

// readMessages reads 'messages' from the start through addr, without a group, until every value in
// want has been seen.
func readMessages(t *testing.T, ctx context.Context, addr string, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	cl := dialOwned(t, addr, kgo.ConsumeTopics("messages"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(missing) > 0 {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("reading through %s: %d of %d values never came, e.g. %q", addr, len(missing), len(want), anyKey(missing))
		}
		fs.EachRecord(func(r *kgo.Record) { delete(missing, string(r.Value)) })
	}
}

func anyKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// produceAcksAllMessages writes n keyed records with acks=all through addr, each acknowledged before the
// next, and returns their values. The client's retries cover leader moves after a node stops.
func produceAcksAllMessages(t *testing.T, ctx context.Context, addr string, n int) []string {
	t.Helper()
	cl := dialOwned(t, addr, kgo.DefaultProduceTopic("messages"), kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	var values []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("acks=all via %s #%d", addr, i)
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := cl.ProduceSync(pctx, &kgo.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(v)}).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("acks=all write %d through %s: %v", i, addr, err)
		}
		values = append(values, v)
	}
	return values
}

// dialOwned is a client the caller closes itself (newClient's close at cleanup would be a second one).
func dialOwned(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// waitMetadataBrokers waits until Metadata through addr lists n brokers.
func waitMetadataBrokers(t *testing.T, ctx context.Context, addr string, n int) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	pollEvery(t, 90*time.Second, 250*time.Millisecond, fmt.Sprintf("%d brokers in Metadata through %s", n, addr), func() bool {
		m, err := adm.BrokerMetadata(ctx)
		return err == nil && len(m.Brokers) == n
	})
}

// waitMessagesFullISR waits until every partition of 'messages' has n in-sync replicas.
func waitMessagesFullISR(t *testing.T, ctx context.Context, addr string, n int) {
	t.Helper()
	waitMessagesISR(t, ctx, addr, "every partition of messages back to a full ISR", func(isr []int32) bool { return len(isr) == n })
}

// waitMessagesISR waits until ok holds for the ISR of every partition of 'messages', as Metadata through
// addr reports it, and logs the partitions.
func waitMessagesISR(t *testing.T, ctx context.Context, addr, what string, ok func(isr []int32) bool) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	var last string
	pollEvery(t, 2*time.Minute, 250*time.Millisecond, what, func() bool {
		td, err := adm.ListTopics(ctx, "messages")
		if err != nil {
			last = err.Error()
			return false
		}
		d := td["messages"]
		if d.Err != nil || len(d.Partitions) == 0 {
			last = fmt.Sprint(d.Err)
			return false
		}
		var b strings.Builder
		all := true
		for _, pd := range d.Partitions.Sorted() {
			fmt.Fprintf(&b, " p%d leader %d isr %v;", pd.Partition, pd.Leader, pd.ISR)
			all = all && ok(pd.ISR)
		}
		last = b.String()
		return all
	})
	t.Logf("%s:%s", what, last)
}

// TestDockerREADMESnippets keeps the README's Docker section honest: the scripts it shows are the
// ones the compose tests run. It needs no Docker.
func TestDockerREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile(repoPath(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, snippet := range map[string]string{
		"topic creation": createTopicScript(3, 2),
		"producer":       composeSeedProducer,
		"consumer":       composeSeedConsumer,
	} {
		if !strings.Contains(string(readme), "```python\n"+snippet+"```\n") {
			t.Errorf("README.md does not show the %s script the tests run:\n%s", name, snippet)
		}
	}
}
