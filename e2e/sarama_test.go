package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaVersion is the protocol version the sarama tests claim: the seed's Kafka, 3.4.
var saramaVersion = sarama.V3_4_0_0

// saramaConfig is a sarama configuration for version v with an idempotent acks=all producer
// (which needs one request in flight per connection), consumers that start at the oldest
// offset, and group timings that notice a rebalance within a heartbeat (500 ms).
func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "minikraft-e2e-sarama"
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Admin.Retry.Max = 20
	cfg.Admin.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 50
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Max = 20
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 250 * time.Millisecond
	return cfg
}

// pmsg is one message: what a producer was acknowledged, or what a consumer read.
type pmsg struct {
	key, value string
	header     string // the value of header "h"
	partition  int32
	offset     int64
}

func (m pmsg) String() string {
	return fmt.Sprintf("%d/%d %s=%s", m.partition, m.offset, m.key, m.value)
}

// ackedSet indexes acknowledged messages by partition and offset.
type ackedSet map[[2]int64]pmsg

func (a ackedSet) add(t testing.TB, m pmsg) {
	t.Helper()
	k := [2]int64{int64(m.partition), m.offset}
	if prev, dup := a[k]; dup {
		t.Errorf("two messages acknowledged at %d/%d: %v and %v", m.partition, m.offset, prev, m)
	}
	a[k] = m
}

// ends is the log end offset of each partition, from the acknowledgements (the topics here have
// only acknowledged, non-transactional writes, so offsets are dense from 0).
func (a ackedSet) ends(parts int32) map[int32]int64 {
	out := map[int32]int64{}
	for p := range parts {
		out[p] = 0
	}
	for k := range a {
		out[int32(k[0])] = max(out[int32(k[0])], k[1]+1)
	}
	return out
}

// checkKeysPartitioned fails unless every key went to one partition.
func checkKeysPartitioned(t testing.TB, msgs []pmsg) {
	t.Helper()
	where := map[string]int32{}
	for _, m := range msgs {
		if p, ok := where[m.key]; ok && p != m.partition {
			t.Errorf("key %q in partitions %d and %d", m.key, p, m.partition)
		}
		where[m.key] = m.partition
	}
}

// saramaSend produces n messages batch-0 … batch-(n-1) keyed key-(i%10) with header h through
// p: the first half one SendMessage at a time, the rest in one SendMessages.
func saramaSend(t testing.TB, p sarama.SyncProducer, topic, batch string, n int, acked ackedSet) []pmsg {
	t.Helper()
	msg := func(i int) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(fmt.Sprint("key-", i%10)),
			Value:   sarama.StringEncoder(fmt.Sprint(batch, "-", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("hdr-" + batch)}},
		}
	}
	var out []pmsg
	record := func(m *sarama.ProducerMessage) {
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		pm := pmsg{key: string(k), value: string(v), header: "hdr-" + batch, partition: m.Partition, offset: m.Offset}
		acked.add(t, pm)
		out = append(out, pm)
	}
	for i := range n / 2 {
		m := msg(i)
		part, off, err := p.SendMessage(m)
		if err != nil {
			t.Fatalf("SendMessage %d: %v", i, err)
		}
		if part != m.Partition || off != m.Offset {
			t.Fatalf("SendMessage returned %d/%d, the message says %d/%d", part, off, m.Partition, m.Offset)
		}
		record(m)
	}
	var rest []*sarama.ProducerMessage
	for i := n / 2; i < n; i++ {
		rest = append(rest, msg(i))
	}
	if err := p.SendMessages(rest); err != nil {
		t.Fatalf("SendMessages: %v", err)
	}
	for _, m := range rest {
		record(m)
	}
	checkKeysPartitioned(t, out)
	return out
}

// consumed collects what the members of one group read, in order.
type consumed struct {
	mu   sync.Mutex
	msgs []pmsg
	by   []string // the member that read msgs[i]
}

func (c *consumed) add(member string, m pmsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	c.by = append(c.by, member)
}

func (c *consumed) snapshot() ([]pmsg, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs), slices.Clone(c.by)
}

// has reports whether every one of want has been read.
func (c *consumed) has(want []pmsg) bool {
	got, _ := c.snapshot()
	seen := map[pmsg]bool{}
	for _, m := range got {
		seen[m] = true
	}
	for _, m := range want {
		if !seen[m] {
			return false
		}
	}
	return true
}

// check fails unless what was read is exactly want, each once, and each message read is the
// one acknowledged at its partition and offset, key, value and header intact.
func (c *consumed) check(t testing.TB, acked ackedSet, want []pmsg) {
	t.Helper()
	got, by := c.snapshot()
	seen := map[[2]int64]string{}
	for i, m := range got {
		k := [2]int64{int64(m.partition), m.offset}
		if a, ok := acked[k]; !ok || a != m {
			t.Errorf("%s read %v, acknowledged there: %v", by[i], m, a)
		}
		if who, dup := seen[k]; dup {
			t.Errorf("%v read twice, by %s and %s", m, who, by[i])
		}
		seen[k] = by[i]
	}
	if len(got) != len(want) {
		t.Errorf("read %d messages, want %d", len(got), len(want))
	}
	for _, m := range want {
		if _, ok := seen[[2]int64{int64(m.partition), m.offset}]; !ok {
			t.Errorf("%v never read", m)
		}
	}
}

// saramaMember is one member of a sarama consumer group, consuming in the background. Its
// handler marks each message before recording it as read; sarama commits the marks every
// 100 ms and when its session ends, so a rebalance commits what the old owner read before the
// new owner fetches its starting offset. (Not a synchronous Commit per message: sarama shares
// one connection per broker, so a commit to the coordinator queues behind a long-poll Fetch to
// the same broker, as it does with Kafka.)
type saramaMember struct {
	t     testing.TB
	name  string
	topic string
	cg    sarama.ConsumerGroup
	out   *consumed

	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	claims []int32 // of the current session; nil between sessions
	gen    int32
}

func startSaramaMember(t testing.TB, addrs []string, cfg *sarama.Config, group, topic, name string, out *consumed) *saramaMember {
	t.Helper()
	cfg.ClientID = name
	cg, err := sarama.NewConsumerGroup(addrs, group, cfg)
	if err != nil {
		t.Fatalf("%s: NewConsumerGroup: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{t: t, name: name, topic: topic, cg: cg, out: out, cancel: cancel, done: make(chan struct{})}
	logf := safeLogf(t)
	go func() {
		for err := range cg.Errors() {
			logf("%s: %v", name, err)
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil {
				if errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return
				}
				logf("%s: Consume: %v", name, err)
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims = slices.Sorted(slices.Values(s.Claims()[m.topic]))
	m.gen = s.GenerationID()
	return nil
}

func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims = nil
	return nil
}

func (m *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			pm := pmsg{key: string(msg.Key), value: string(msg.Value), partition: msg.Partition, offset: msg.Offset}
			for _, h := range msg.Headers {
				if string(h.Key) == "h" {
					pm.header = string(h.Value)
				}
			}
			s.MarkMessage(msg, "")
			m.out.add(m.name, pm)
		case <-s.Context().Done():
			return nil
		}
	}
}

// session returns the member's current claims and generation (nil claims between sessions).
func (m *saramaMember) session() ([]int32, int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claims, m.gen
}

// close stops consuming and leaves the group.
func (m *saramaMember) close() {
	m.cancel()
	<-m.done
	if err := m.cg.Close(); err != nil {
		m.t.Logf("%s: Close: %v", m.name, err)
	}
}

// waitSaramaSettled waits until the live members have one generation, disjoint non-empty
// claims that cover parts partitions, and the coordinator describes the group as Stable with
// exactly them.
func waitSaramaSettled(t testing.TB, adm *kadm.Client, group string, parts int32, live ...*saramaMember) int32 {
	t.Helper()
	var why string
	var gen int32
	ok := eventuallyOK(20*time.Second, func() bool {
		owner := map[int32]string{}
		gen = -1
		for _, m := range live {
			claims, g := m.session()
			if len(claims) == 0 {
				why = m.name + " has no claims"
				return false
			}
			if gen >= 0 && g != gen {
				why = fmt.Sprintf("%s in generation %d, another in %d", m.name, g, gen)
				return false
			}
			gen = g
			for _, p := range claims {
				if o, dup := owner[p]; dup {
					why = fmt.Sprintf("partition %d claimed by %s and %s", p, o, m.name)
					return false
				}
				owner[p] = m.name
			}
		}
		if len(owner) != int(parts) {
			why = fmt.Sprintf("claims %v", owner)
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			why = err.Error()
			return false
		}
		g := dg[group]
		if g.State != "Stable" || len(g.Members) != len(live) {
			why = fmt.Sprintf("group %s with %d members", g.State, len(g.Members))
			return false
		}
		return true
	})
	if !ok {
		t.Fatalf("group %s not settled: %s", group, why)
	}
	return gen
}

// waitCommitted waits until the group's committed offsets, through sarama's admin (when sadm
// is not nil) and through kadm, are the log end offsets of the partitions that have messages,
// and nothing is committed for the empty ones.
func waitCommitted(t testing.TB, sadm sarama.ClusterAdmin, adm *kadm.Client, group, topic string, ends map[int32]int64) {
	t.Helper()
	parts := slices.Sorted(maps.Keys(ends))
	var why string
	ok := eventuallyOK(10*time.Second, func() bool {
		if sadm != nil {
			r, err := sadm.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
			if err != nil {
				why = "sarama ListConsumerGroupOffsets: " + err.Error()
				return false
			}
			for _, p := range parts {
				b := r.GetBlock(topic, p)
				want := ends[p]
				if want == 0 {
					want = -1 // nothing read, nothing committed
				}
				if b == nil || b.Err != sarama.ErrNoError || b.Offset != want {
					why = fmt.Sprintf("sarama: %s/%d committed %+v, want offset %d", topic, p, b, want)
					return false
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		fo, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = fo.Error()
		}
		if err != nil {
			why = "kadm FetchOffsets: " + err.Error()
			return false
		}
		for _, p := range parts {
			r, ok := fo.Lookup(topic, p)
			if ends[p] == 0 && ok || ends[p] > 0 && (!ok || r.At != ends[p]) {
				why = fmt.Sprintf("kadm: %s/%d committed %+v (found %v), want %d", topic, p, r, ok, ends[p])
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("group %s: committed offsets are not the end offsets %v: %s", group, ends, why)
	}
}

// producerIDAt reads the record at topic/partition/offset with franz-go and returns the producer
// id of its batch (-1 if the producer was not idempotent).
func producerIDAt(t testing.TB, addrs []string, m pmsg, topic string) int64 {
	t.Helper()
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {m.partition: kgo.NewOffset().At(m.offset)}}))
	defer cl.Close()
	ctx := testContext(t)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %v back with franz-go: %v", m, err)
		}
		var rec *kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			if rec == nil && r.Offset == m.offset {
				rec = r
			}
		})
		if rec != nil {
			if string(rec.Key) != m.key || string(rec.Value) != m.value {
				t.Fatalf("franz-go read %s=%s at %v", rec.Key, rec.Value, m)
			}
			return rec.ProducerID
		}
	}
}

// saramaAdmin creates topic (3 partitions, replication factor rf, min.insync.replicas minISR)
// through sarama's ClusterAdmin and checks what DescribeConfig, ListTopics, DescribeTopics and
// DescribeCluster say about it.
func saramaAdmin(t testing.TB, addrs []string, topic string, rf int16, minISR string) sarama.ClusterAdmin {
	t.Helper()
	sadm, err := sarama.NewClusterAdmin(addrs, saramaConfig(saramaVersion))
	if err != nil {
		t.Fatalf("NewClusterAdmin: %v", err)
	}
	t.Cleanup(func() { sadm.Close() })
	configs := map[string]string{
		"min.insync.replicas": minISR,
		"cleanup.policy":      "delete",
		"retention.ms":        "86400000",
	}
	detail := &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: rf, ConfigEntries: map[string]*string{}}
	for k, v := range configs {
		detail.ConfigEntries[k] = &v
	}
	if err := sadm.CreateTopic(topic, detail, true); err != nil {
		t.Fatalf("CreateTopic validate-only: %v", err)
	}
	if err := sadm.CreateTopic(topic, detail, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if err := sadm.CreateTopic(topic, detail, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("CreateTopic again: %v, want %v", err, sarama.ErrTopicAlreadyExists)
	}
	negative := "-5"
	bad := &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: rf, ConfigEntries: map[string]*string{"retention.ms": &negative}}
	if err := sadm.CreateTopic(topic+"-bad", bad, false); !errors.Is(err, sarama.ErrInvalidConfig) {
		t.Fatalf("CreateTopic with retention.ms=-5: %v, want %v", err, sarama.ErrInvalidConfig)
	}

	// Any broker may answer the next calls; the ones that have not applied the new topic yet
	// say UNKNOWN_TOPIC_OR_PARTITION for a moment, as Kafka's brokers do.
	var entries []sarama.ConfigEntry
	eventually(t, 10*time.Second, "DescribeConfig of "+topic, func() bool {
		//lint:ignore SA1019 deprecated in sarama 1.61, and what most sarama programs call
		entries, err = sadm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		return err == nil
	})
	byName := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	for k, v := range configs {
		if e := byName[k]; e.Value != v || e.Default || e.Source != sarama.SourceTopic || e.ReadOnly {
			t.Errorf("DescribeConfig %s: %+v, want %s from the topic", k, e, v)
		}
	}
	if e := byName["segment.bytes"]; e.Value != "1073741824" || !e.Default || e.Source != sarama.SourceDefault {
		t.Errorf("DescribeConfig segment.bytes: %+v, want Kafka's default", e)
	}
	if len(entries) < 20 {
		t.Errorf("DescribeConfig listed %d configs; Kafka lists every topic config", len(entries))
	}

	// DescribeConfigs, its replacement, with a name filter, synonyms and documentation: an
	// override's first synonym is itself, then the broker-level default it overrides.
	// It may reach another broker than DescribeConfig did, which may not have the topic yet.
	var res []*sarama.ConfigResourceResult
	eventually(t, 10*time.Second, "DescribeConfigs of "+topic, func() bool {
		res, err = sadm.DescribeConfigs([]*sarama.ConfigResource{{
			Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas", "retention.ms"},
		}}, sarama.DescribeConfigsOptions{IncludeSynonyms: true, IncludeDocumentation: true})
		return err != nil || len(res) != 1 || res[0].ErrorCode != sarama.ErrUnknownTopicOrPartition
	})
	if err != nil || len(res) != 1 || res[0].ErrorCode != sarama.ErrNoError || len(res[0].Configs) != 2 {
		t.Fatalf("DescribeConfigs: %v %+v", err, res)
	}
	for _, e := range res[0].Configs {
		if e.Value != configs[e.Name] || len(e.Synonyms) < 2 || e.Documentation == nil || *e.Documentation == "" {
			t.Errorf("DescribeConfigs %s: %+v", e.Name, e)
			continue
		}
		if s := e.Synonyms[0]; s.ConfigName != e.Name || s.ConfigValue != e.Value || s.Source != sarama.SourceTopic {
			t.Errorf("DescribeConfigs %s: first synonym %+v, want the topic's own", e.Name, s)
		}
		if s := e.Synonyms[len(e.Synonyms)-1]; s.Source != sarama.SourceDefault {
			t.Errorf("DescribeConfigs %s: last synonym %+v, want the default", e.Name, s)
		}
	}

	var topics map[string]sarama.TopicDetail
	eventually(t, 10*time.Second, "ListTopics with "+topic, func() bool {
		topics, err = sadm.ListTopics()
		_, ok := topics[topic]
		return err == nil && ok
	})
	d := topics[topic]
	if d.NumPartitions != 3 || d.ReplicationFactor != rf || len(d.ReplicaAssignment) != 3 {
		t.Errorf("ListTopics %s: %d partitions, replication factor %d, assignment %v", topic, d.NumPartitions, d.ReplicationFactor, d.ReplicaAssignment)
	}
	got := map[string]string{}
	for k, v := range d.ConfigEntries {
		got[k] = *v
	}
	if !maps.Equal(got, configs) {
		t.Errorf("ListTopics %s: non-default configs %v, want %v", topic, got, configs)
	}

	var md []*sarama.TopicMetadata
	var why string
	eventually(t, 10*time.Second, "DescribeTopics with every partition fully in sync", func() bool {
		md, err = sadm.DescribeTopics([]string{topic})
		if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 3 {
			why = fmt.Sprint(err, md)
			return false
		}
		for _, p := range md[0].Partitions {
			if p.Err != sarama.ErrNoError || len(p.Replicas) != int(rf) || len(p.Isr) != int(rf) || !slices.Contains(p.Replicas, p.Leader) {
				why = fmt.Sprintf("partition %d: %+v", p.ID, p)
				return false
			}
		}
		return true
	})
	if md[0].Name != topic || md[0].IsInternal {
		t.Errorf("DescribeTopics: %+v (%s)", md[0], why)
	}
	md, err = sadm.DescribeTopics([]string{"no-such-topic"})
	if err != nil || len(md) != 1 || md[0].Err != sarama.ErrUnknownTopicOrPartition {
		t.Errorf("DescribeTopics of an unknown topic: %v %+v, want UNKNOWN_TOPIC_OR_PARTITION", err, md)
	}

	brokers, controller, err := sadm.DescribeCluster()
	if err != nil || len(brokers) != len(addrs) {
		t.Fatalf("DescribeCluster: %v, %d brokers, want %d", err, len(brokers), len(addrs))
	}
	ids := []int32{}
	for _, b := range brokers {
		ids = append(ids, b.ID())
	}
	if !slices.Contains(ids, controller) {
		t.Errorf("DescribeCluster: controller %d is none of the brokers %v", controller, ids)
	}
	return sadm
}

// saramaScenario runs sarama against a cluster at addrs: the admin calls, an idempotent
// acks=all producer, one group member that reads and commits everything, a second member that
// joins and splits the partitions with it, and after both left and disrupt ran (given the
// group coordinator's node id), a new member that reads only what was produced since.
func saramaScenario(t *testing.T, addrs []string, rf int16, minISR string, disrupt func(coordinator int32)) {
	ctx := testContext(t)
	const topic, group = "sarama-orders", "sarama-g"
	adm := kadm.NewClient(newClient(t, addrs[0]))
	sadm := saramaAdmin(t, addrs, topic, rf, minISR)

	prod, err := sarama.NewSyncProducer(addrs, saramaConfig(saramaVersion))
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	t.Cleanup(func() { prod.Close() })
	acked := ackedSet{}
	first := saramaSend(t, prod, topic, "a", 60, acked)
	if pid := producerIDAt(t, addrs, first[0], topic); pid < 0 {
		t.Errorf("the idempotent producer's batch has producer id %d", pid)
	}

	// One member reads and commits everything.
	out := &consumed{}
	a := startSaramaMember(t, addrs, saramaConfig(saramaVersion), group, topic, "member-a", out)
	eventually(t, 20*time.Second, "member-a read the first batch", func() bool { return out.has(first) })
	out.check(t, acked, first)
	waitCommitted(t, sadm, adm, group, topic, acked.ends(3))
	_, gen1 := a.session()

	// A second member joins: the group rebalances, the two split the partitions, and what is
	// produced next is read once, by the member that owns its partition.
	b := startSaramaMember(t, addrs, saramaConfig(saramaVersion), group, topic, "member-b", out)
	gen2 := waitSaramaSettled(t, adm, group, 3, a, b)
	if gen2 <= gen1 {
		t.Errorf("generation %d after member-b joined, %d before", gen2, gen1)
	}
	aClaims, _ := a.session()
	bClaims, _ := b.session()
	t.Logf("after the rebalance: member-a %v, member-b %v", aClaims, bClaims)
	second := saramaSend(t, prod, topic, "b", 30, acked)
	eventually(t, 20*time.Second, "the group read the second batch", func() bool { return out.has(second) })
	out.check(t, acked, append(slices.Clone(first), second...))
	got, by := out.snapshot()
	for i, m := range got[len(first):] {
		owner := "member-a"
		if slices.Contains(bClaims, m.partition) {
			owner = "member-b"
		}
		if by[len(first)+i] != owner {
			t.Errorf("%v read by %s, but %s claims partition %d", m, by[len(first)+i], owner, m.partition)
		}
	}
	waitCommitted(t, sadm, adm, group, topic, acked.ends(3))

	// Both leave; the group is Empty with its offsets kept.
	a.close()
	b.close()
	var coordinator int32
	eventually(t, 10*time.Second, "the group empty after both members left", func() bool {
		dg, err := adm.DescribeGroups(ctx, group)
		coordinator = dg[group].Coordinator.NodeID
		return err == nil && dg[group].State == "Empty" && len(dg[group].Members) == 0
	})
	disrupt(coordinator)
	adm = kadm.NewClient(newClient(t, addrs[0], kgo.SeedBrokers(addrs...)))

	// The same producer goes on (its idempotent sequence continues on the recovered log or the
	// new leader), and a new member of the group resumes at the committed offsets.
	third := saramaSend(t, prod, topic, "c", 30, acked)
	c := startSaramaMember(t, addrs, saramaConfig(saramaVersion), group, topic, "member-c", out)
	eventually(t, 20*time.Second, "member-c read the third batch", func() bool { return out.has(third) })
	c.close()
	all := slices.Concat(first, second, third)
	out.check(t, acked, all)
	checkKeysPartitioned(t, all)
	waitCommitted(t, sadm, adm, group, topic, acked.ends(3))
}

// TestSaramaSingleNode: sarama (protocol version 3.4) against one node: ClusterAdmin creates a
// topic with configs and reads it back with DescribeConfig, ListTopics, DescribeTopics and
// DescribeCluster; an idempotent acks=all SyncProducer writes keyed messages with headers;
// a consumer group reads them exactly once across a second member's join and, after both left
// and the node restarted, a new member resumes where the group committed.
func TestSaramaSingleNode(t *testing.T) {
	n := startSingle(t, groupConfig...)
	logOutputOnFailure(t, n)
	saramaScenario(t, []string{n.addr}, 1, "1", func(int32) {
		n.stop()
		n.restart()
	})
}

// TestSaramaCluster: the same against three processes, with the seed's topic settings:
// replication factor 3 and min.insync.replicas=2; the node that coordinates the group is
// stopped before the last batch, so the producer and the new member go on with the other two
// (new partition leaders, a new coordinator that loaded the group's offsets).
func TestSaramaCluster(t *testing.T) {
	c := startCluster(t, 3, groupConfig...)
	logOutputOnFailure(t, c.nodes...)
	saramaScenario(t, c.addrs(), 3, "2", func(coordinator int32) {
		c.nodes[coordinator].stop()
	})
}

// TestSaramaDefaultVersion: sarama with the configuration users leave as it is (protocol
// version 2.8, acks=1, not idempotent) produces to a topic that does not exist yet (created
// on first use), reads it back with a partition consumer, and a consumer group reads and commits it.
func TestSaramaDefaultVersion(t *testing.T) {
	n := startSingle(t, groupConfig...)
	ctx := testContext(t)
	addrs := []string{n.addr}
	const topic = "sarama-default"

	cfg := sarama.NewConfig()
	if cfg.Version != sarama.DefaultVersion {
		t.Fatalf("NewConfig version %v, want the default %v", cfg.Version, sarama.DefaultVersion)
	}
	cfg.Producer.Return.Successes = true // a SyncProducer needs it
	prod, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	t.Cleanup(func() { prod.Close() })
	acked := ackedSet{}
	sent := saramaSend(t, prod, topic, "d", 50, acked)
	if pid := producerIDAt(t, addrs, sent[0], topic); pid != -1 {
		t.Errorf("the default (not idempotent) producer's batch has producer id %d", pid)
	}

	client, err := sarama.NewClient(addrs, sarama.NewConfig())
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	parts, err := client.Partitions(topic)
	if err != nil || len(parts) != 1 {
		t.Fatalf("Partitions of the auto-created topic: %v %v, want one (num.partitions=1)", parts, err)
	}
	if end, err := client.GetOffset(topic, 0, sarama.OffsetNewest); err != nil || end != 50 {
		t.Fatalf("newest offset %d %v, want 50", end, err)
	}
	if start, err := client.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || start != 0 {
		t.Fatalf("oldest offset %d %v, want 0", start, err)
	}

	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("ConsumePartition: %v", err)
	}
	for i, want := range sent {
		select {
		case m := <-pc.Messages():
			got := pmsg{key: string(m.Key), value: string(m.Value), partition: m.Partition, offset: m.Offset}
			if len(m.Headers) == 1 && string(m.Headers[0].Key) == "h" {
				got.header = string(m.Headers[0].Value)
			}
			if got != want || m.Offset != int64(i) {
				t.Fatalf("message %d: %v, want %v", i, got, want)
			}
		case err := <-pc.Errors():
			t.Fatalf("partition consumer: %v", err)
		case <-ctx.Done():
			t.Fatalf("read %d of %d messages", i, len(sent))
		}
	}
	pc.Close()
	cons.Close()

	gcfg := sarama.NewConfig()
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest // a new group reads what is there
	out := &consumed{}
	m := startSaramaMember(t, addrs, gcfg, "sarama-default-g", topic, "default-member", out)
	eventually(t, 20*time.Second, "the default-version group read everything", func() bool { return out.has(sent) })
	m.close()
	out.check(t, acked, sent)
	waitCommitted(t, nil, kadm.NewClient(newClient(t, n.addr)), "sarama-default-g", topic, acked.ends(1))
}
