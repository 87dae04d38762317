package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// safeLogf is t.Logf for goroutines that may outlive the test: it drops lines once the test's
// cleanups have run.
func safeLogf(t testing.TB) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
	})
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
}

// logOutputOnFailure logs the nodes' output at the end of a failed test.
func logOutputOnFailure(t testing.TB, nodes ...*node) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, n := range nodes {
			t.Logf("node %d (%s) output:\n%s", i, n.addr, n.output())
		}
	})
}

// kafkaGoTopicConfigs are the seed's topic settings, with min.insync.replicas minISR.
func kafkaGoTopicConfigs(minISR string) []kafka.ConfigEntry {
	return []kafka.ConfigEntry{
		{ConfigName: "min.insync.replicas", ConfigValue: minISR},
		{ConfigName: "cleanup.policy", ConfigValue: "delete"},
		{ConfigName: "retention.ms", ConfigValue: "86400000"},
	}
}

// waitTopicEverywhere waits until every node at addrs has the topic with parts partitions, each
// with a leader and rf in-sync replicas.
func waitTopicEverywhere(t testing.TB, addrs []string, topic string, parts, rf int) {
	t.Helper()
	for _, addr := range addrs {
		adm := kadm.NewClient(newClient(t, addr))
		eventually(t, 10*time.Second, topic+" in the metadata of "+addr, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			td, err := adm.ListTopics(ctx, topic)
			if err != nil || td.Error() != nil || len(td[topic].Partitions) != parts {
				return false
			}
			for _, p := range td[topic].Partitions {
				if p.Err != nil || p.Leader < 0 || len(p.ISR) != rf {
					return false
				}
			}
			return true
		})
	}
}

// kafkaGoConnAdmin creates topic through the classic kafka.Conn path (dial any broker, ask it
// for the controller, dial that, CreateTopics) and reads it back with Conn.ReadPartitions.
func kafkaGoConnAdmin(t testing.TB, ctx context.Context, addrs []string, topic string, rf int, minISR string) {
	t.Helper()
	conn, err := kafka.DialContext(ctx, "tcp", addrs[0])
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	brokers, err := conn.Brokers()
	if err != nil || len(brokers) != len(addrs) {
		t.Fatalf("Conn.Brokers: %v %v, want %d brokers", brokers, err, len(addrs))
	}
	ctrl, err := conn.Controller()
	if err != nil || !slices.ContainsFunc(brokers, func(b kafka.Broker) bool { return b.ID == ctrl.ID }) {
		t.Fatalf("Conn.Controller: %+v %v, not one of %v", ctrl, err, brokers)
	}
	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatalf("Dial the controller: %v", err)
	}
	defer cc.Close()
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: rf, ConfigEntries: kafkaGoTopicConfigs(minISR)}
	if err := cc.CreateTopics(tc); err != nil {
		t.Fatalf("Conn.CreateTopics: %v", err)
	}
	// Conn.CreateTopics is idempotent: it takes TOPIC_ALREADY_EXISTS for success.
	if err := cc.CreateTopics(tc); err != nil {
		t.Fatalf("Conn.CreateTopics again: %v", err)
	}
	// ReadPartitions asks with allow_auto_topic_creation; a broker that has not applied the
	// new topic yet must not make a second one of it.
	var why string
	ok := eventuallyOK(10*time.Second, func() bool {
		ps, err := conn.ReadPartitions(topic)
		if err != nil || len(ps) != 3 {
			why = fmt.Sprint(ps, err)
			return false
		}
		for _, p := range ps {
			if p.Error != nil || p.Topic != topic || len(p.Replicas) != rf || len(p.Isr) != rf || p.Leader.Host == "" {
				why = fmt.Sprintf("%+v", p)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("Conn.ReadPartitions of %s: %s", topic, why)
	}
}

// kafkaGoClientAdmin creates topic through kafka.Client and checks Metadata and DescribeConfigs.
func kafkaGoClientAdmin(t testing.TB, ctx context.Context, cl *kafka.Client, addrs []string, topic string, rf int, minISR string) {
	t.Helper()
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: rf, ConfigEntries: kafkaGoTopicConfigs(minISR)}
	bad := kafka.TopicConfig{Topic: topic + "-bad", NumPartitions: 1, ReplicationFactor: rf,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "shred"}}}
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc, bad}})
	if err != nil {
		t.Fatalf("Client.CreateTopics: %v", err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatalf("Client.CreateTopics %s: %v", topic, err)
	}
	if err := res.Errors[bad.Topic]; !errors.Is(err, kafka.InvalidConfiguration) {
		t.Fatalf("Client.CreateTopics with cleanup.policy=shred: %v, want %v", err, kafka.InvalidConfiguration)
	}
	res, err = cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil || !errors.Is(res.Errors[topic], kafka.TopicAlreadyExists) {
		t.Fatalf("Client.CreateTopics again: %v %v, want %v", err, res.Errors, kafka.TopicAlreadyExists)
	}

	var md *kafka.MetadataResponse
	var why string
	ok := eventuallyOK(10*time.Second, func() bool {
		md, err = cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != 3 {
			why = fmt.Sprint(err, md)
			return false
		}
		for _, p := range md.Topics[0].Partitions {
			if p.Error != nil || len(p.Replicas) != rf || len(p.Isr) != rf {
				why = fmt.Sprintf("%+v", p)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("Client.Metadata of %s: %s", topic, why)
	}
	if len(md.Brokers) != len(addrs) || md.ClusterID == "" || md.Topics[0].Internal ||
		!slices.ContainsFunc(md.Brokers, func(b kafka.Broker) bool { return b.ID == md.Controller.ID }) {
		t.Errorf("Client.Metadata: cluster %q, controller %+v, brokers %+v, topic %+v", md.ClusterID, md.Controller, md.Brokers, md.Topics[0])
	}

	var dc *kafka.DescribeConfigsResponse
	eventually(t, 10*time.Second, "Client.DescribeConfigs of "+topic, func() bool {
		dc, err = cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		}}})
		return err == nil && len(dc.Resources) == 1 && dc.Resources[0].Error == nil
	})
	found := map[string]kafka.DescribeConfigResponseConfigEntry{}
	for _, e := range dc.Resources[0].ConfigEntries {
		found[e.ConfigName] = e
	}
	const topicSource, defaultSource = 1, 5 // DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG
	for _, c := range kafkaGoTopicConfigs(minISR) {
		if e := found[c.ConfigName]; e.ConfigValue != c.ConfigValue || e.ConfigSource != topicSource {
			t.Errorf("DescribeConfigs %s: %+v, want %s from the topic", c.ConfigName, e, c.ConfigValue)
		}
	}
	if e := found["segment.bytes"]; e.ConfigValue != "1073741824" || e.ConfigSource != defaultSource {
		t.Errorf("DescribeConfigs segment.bytes: %+v, want Kafka's default", e)
	}
}

// kafkaGoWriter is a writer with acks=all and the hash balancer that records what each write
// was acknowledged as.
func kafkaGoWriter(t testing.TB, addrs []string, topic string, acked ackedSet) *kafka.Writer {
	var mu sync.Mutex
	logf := safeLogf(t)
	w := &kafka.Writer{
		Addr:            kafka.TCP(addrs...),
		Topic:           topic,
		Balancer:        &kafka.Hash{},
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    10 * time.Millisecond,
		MaxAttempts:     50,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 250 * time.Millisecond,
		ErrorLogger:     kafka.LoggerFunc(func(f string, a ...any) { logf("writer: "+f, a...) }),
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				return // WriteMessages returns it
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				acked.add(t, kafkaGoMsg(m))
			}
		},
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func kafkaGoMsg(m kafka.Message) pmsg {
	pm := pmsg{key: string(m.Key), value: string(m.Value), partition: int32(m.Partition), offset: m.Offset}
	for _, h := range m.Headers {
		if h.Key == "h" {
			pm.header = string(h.Value)
		}
	}
	return pm
}

// kafkaGoWrite writes n messages batch-i keyed key-(i%10) with header h, in three calls.
func kafkaGoWrite(t testing.TB, ctx context.Context, w *kafka.Writer, acked ackedSet, batch string, n int) []pmsg {
	t.Helper()
	before := len(acked)
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{
			Key:     []byte(fmt.Sprint("key-", i%10)),
			Value:   []byte(fmt.Sprint(batch, "-", i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte("hdr-" + batch)}},
		})
	}
	for chunk := range slices.Chunk(msgs, (n+2)/3) {
		if err := w.WriteMessages(ctx, chunk...); err != nil {
			t.Fatalf("WriteMessages: %v", err)
		}
	}
	if len(acked) != before+n {
		t.Fatalf("%d messages acknowledged, want %d", len(acked)-before, n)
	}
	var out []pmsg
	for _, m := range acked {
		if m.header == "hdr-"+batch {
			out = append(out, m)
		}
	}
	checkKeysPartitioned(t, out)
	return out
}

// kafkaGoReader is a reader in group that reads, with ReadMessage (which commits each message
// synchronously), into out in the background until closed.
type kafkaGoReader struct {
	r    *kafka.Reader
	done chan struct{}
}

func startKafkaGoReader(t testing.TB, addrs []string, group, topic, name string, out *consumed) *kafkaGoReader {
	logf := safeLogf(t)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           addrs,
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           250 * time.Millisecond,
		HeartbeatInterval: 300 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  250 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
		CommitInterval:    0, // commit synchronously in ReadMessage
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { logf(name+": "+f, a...) }),
	})
	kr := &kafkaGoReader{r: r, done: make(chan struct{})}
	go func() {
		defer close(kr.done)
		for {
			m, err := r.ReadMessage(context.Background())
			switch {
			case errors.Is(err, io.EOF): // closed
				return
			case err != nil:
				// A failed commit loses the message from out: the test then says which.
				logf("%s: ReadMessage: %v", name, err)
				continue
			}
			out.add(name, kafkaGoMsg(m))
		}
	}()
	t.Cleanup(kr.close)
	return kr
}

// close leaves the group and waits for the read loop to end.
func (kr *kafkaGoReader) close() {
	kr.r.Close()
	<-kr.done
}

// waitGroupSplit waits until the coordinator describes group as Stable with members members,
// each assigned a non-empty share of topic's parts partitions, the shares disjoint and together
// all of them.
func waitGroupSplit(t testing.TB, adm *kadm.Client, group, topic string, parts, members int) {
	t.Helper()
	var why string
	ok := eventuallyOK(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			why = err.Error()
			return false
		}
		g := dg[group]
		if g.State != "Stable" || len(g.Members) != members {
			why = fmt.Sprintf("%s with %d members", g.State, len(g.Members))
			return false
		}
		owner := map[int32]string{}
		for _, m := range g.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				why = m.MemberID + "'s assignment does not decode"
				return false
			}
			n := 0
			for _, at := range a.Topics {
				for _, p := range at.Partitions {
					if _, dup := owner[p]; dup || at.Topic != topic {
						why = fmt.Sprintf("%s assigned %s/%d, owned by %q", m.MemberID, at.Topic, p, owner[p])
						return false
					}
					owner[p] = m.MemberID
					n++
				}
			}
			if n == 0 {
				why = m.MemberID + " assigned nothing"
				return false
			}
		}
		if len(owner) != parts {
			why = fmt.Sprint("assigned ", owner)
			return false
		}
		return true
	})
	if !ok {
		t.Fatalf("group %s not split over %d members: %s", group, members, why)
	}
}

// kafkaGoScenario runs kafka-go against the cluster at addrs: topics created through Conn and
// Client, an acks=all hash-balanced Writer, one group Reader that reads and commits everything,
// then two Readers in the same group that split the partitions and resume where the first one
// committed, and after disrupt ran (given the group coordinator's node id) one more Reader that
// resumes where those two committed.
func kafkaGoScenario(t *testing.T, addrs []string, rf int, minISR string, disrupt func(coordinator int32)) {
	ctx := testContext(t)
	const topic, group = "kafkago-orders", "kafkago-g"
	adm := kadm.NewClient(newClient(t, addrs[0]))
	kafkaGoConnAdmin(t, ctx, addrs, "kafkago-conn", rf, minISR)
	cl := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second}
	kafkaGoClientAdmin(t, ctx, cl, addrs, topic, rf, minISR)
	waitTopicEverywhere(t, addrs, topic, 3, rf)
	if td, err := adm.ListTopics(ctx); err != nil || len(td["kafkago-conn"].Partitions) != 3 {
		t.Fatalf("kafkago-conn after ReadPartitions: %v %+v", err, td["kafkago-conn"])
	}

	acked := ackedSet{}
	w := kafkaGoWriter(t, addrs, topic, acked)
	first := kafkaGoWrite(t, ctx, w, acked, "a", 300)
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range acked.ends(3) {
		if o, _ := end.Lookup(topic, p); o.Offset != want {
			t.Errorf("%s/%d ends at %d, the writer was acknowledged up to %d", topic, p, o.Offset, want)
		}
	}

	// One reader reads and commits everything, then leaves.
	out := &consumed{}
	a := startKafkaGoReader(t, addrs, group, topic, "reader-a", out)
	eventually(t, 20*time.Second, "reader-a read the first batch", func() bool { return out.has(first) })
	a.close()
	out.check(t, acked, first)
	waitCommitted(t, nil, adm, group, topic, acked.ends(3))

	// Two readers split the partitions and read only what is written after.
	b := startKafkaGoReader(t, addrs, group, topic, "reader-b", out)
	c := startKafkaGoReader(t, addrs, group, topic, "reader-c", out)
	waitGroupSplit(t, adm, group, topic, 3, 2)
	second := kafkaGoWrite(t, ctx, w, acked, "b", 90)
	eventually(t, 20*time.Second, "the two readers read the second batch", func() bool { return out.has(second) })
	b.close()
	c.close()
	all := slices.Concat(first, second)
	out.check(t, acked, all)
	checkKeysPartitioned(t, all)
	_, by := out.snapshot()
	if !slices.Contains(by, "reader-b") || !slices.Contains(by, "reader-c") {
		t.Errorf("the second batch was not split between the readers")
	}
	waitCommitted(t, nil, adm, group, topic, acked.ends(3))
	var coordinator int32
	eventually(t, 10*time.Second, "the group empty after the readers closed", func() bool {
		dg, err := adm.DescribeGroups(ctx, group)
		coordinator = dg[group].Coordinator.NodeID
		return err == nil && dg[group].State == "Empty" && len(dg[group].Members) == 0
	})

	// After the disruption the writer goes on and a new reader resumes at the commits.
	disrupt(coordinator)
	adm = kadm.NewClient(newClient(t, addrs[0], kgo.SeedBrokers(addrs...)))
	third := kafkaGoWrite(t, ctx, w, acked, "c", 60)
	d := startKafkaGoReader(t, addrs, group, topic, "reader-d", out)
	eventually(t, 20*time.Second, "reader-d read the third batch", func() bool { return out.has(third) })
	d.close()
	all = slices.Concat(all, third)
	out.check(t, acked, all)
	checkKeysPartitioned(t, all)
	waitCommitted(t, nil, adm, group, topic, acked.ends(3))
}

// TestKafkaGoSingleNode: segmentio/kafka-go against one node: Conn (Brokers, Controller,
// CreateTopics, ReadPartitions) and Client (CreateTopics, Metadata, DescribeConfigs); a Writer
// with acks=all and the hash balancer; group Readers starting at the first offset read every
// message exactly once with keys, values and headers intact, commit it (as kadm sees), a second
// pair of readers splits the partitions and resumes at the commits, and after the node restarted
// the writer goes on and a new reader resumes there too.
func TestKafkaGoSingleNode(t *testing.T) {
	n := startSingle(t, groupConfig...)
	logOutputOnFailure(t, n)
	kafkaGoScenario(t, []string{n.addr}, 1, "1", func(int32) {
		n.stop()
		n.restart()
	})
}

// TestKafkaGoCluster: the same against three processes, with replication factor 3 and
// min.insync.replicas=2; before the last batch the node that coordinates the group is stopped.
//
// kafka-go's Writer does not retry a partition whose leader is missing from the Metadata
// brokers ("topic partition has no leader"). This test caught minikraft's controlled shutdown
// fencing the broker before moving its leaderships away (and the stopping broker's heartbeat
// unfencing it again); leaderships now move first (broker/controller/liveness.go).
func TestKafkaGoCluster(t *testing.T) {
	c := startCluster(t, 3, groupConfig...)
	logOutputOnFailure(t, c.nodes...)
	kafkaGoScenario(t, c.addrs(), 3, "2", func(coordinator int32) {
		c.nodes[coordinator].stop()
	})
}
