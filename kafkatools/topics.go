package kafkatools

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&tool{
		name:    "kafka-topics",
		summary: "This tool helps to create, delete, describe, or change a topic.",
		options: []option{
			{name: "bootstrap-server", arg: "String: server to connect to", help: "REQUIRED: The Kafka server to connect to."},
			{name: "command-config", arg: "String: command config property file", help: "Property file containing configs to be passed to Admin Client."},
			{name: "list", help: "List all available topics."},
			{name: "create", help: "Create a new topic."},
			{name: "delete", help: "Delete a topic"},
			{name: "alter", help: "Alter the number of partitions and replica assignment."},
			{name: "describe", help: "List details for the given topics."},
			{name: "topic", arg: "String: topic", help: "The topic to create, alter, describe or delete. It also accepts a regular expression, except for --create option."},
			{name: "topic-id", arg: "String: topic-id", help: "The topic-id to describe."},
			{name: "config", arg: "String: name=value", help: "A topic configuration override for the topic being created (repeatable)."},
			{name: "partitions", arg: "Integer: # of partitions", help: "The number of partitions for the topic being created or altered."},
			{name: "replication-factor", arg: "Integer: replication factor", help: "The replication factor for each partition in the topic being created."},
			{name: "replica-assignment", arg: "String: broker_id_for_part1_replica1 : broker_id_for_part1_replica2 , ...", help: "A list of manual partition-to-broker assignments."},
			{name: "under-replicated-partitions", help: "if set when describing topics, only show under replicated partitions"},
			{name: "unavailable-partitions", help: "if set when describing topics, only show partitions whose leader is not available"},
			{name: "under-min-isr-partitions", help: "if set when describing topics, only show partitions whose isr count is less than the configured minimum."},
			{name: "at-min-isr-partitions", help: "if set when describing topics, only show partitions whose isr count is equal to the configured minimum."},
			{name: "topics-with-overrides", help: "if set when describing topics, only show topics that have overridden configs"},
			{name: "if-exists", help: "if set when altering or deleting or describing topics, the action will only execute if the topic exists."},
			{name: "if-not-exists", help: "if set when creating topics, the action will only execute if the topic does not already exist."},
			{name: "exclude-internal", help: "exclude internal topics when running list or describe command. The internal topics will be listed by default"},
		},
		run: runTopics,
		report: func(e *env, _ []string, err error) {
			fmt.Fprintln(e.stdout, "Error while executing topic command : "+err.Error())
		},
	})
}

func runTopics(ctx context.Context, e *env, p *parsed) error {
	if err := needOne(p, "Command must include exactly one action: --list, --describe, --create, --alter or --delete", "list", "describe", "create", "alter", "delete"); err != nil {
		return err
	}
	if err := required(p, "bootstrap-server"); err != nil {
		return err
	}
	if (p.has("create") || p.has("alter") || p.has("delete")) && !p.has("topic") {
		return usagef("Missing required argument \"[topic]\"")
	}
	if p.has("create") && !p.has("replica-assignment") && p.has("partitions") && p.str("partitions", "") == "" {
		return usagef("Missing required argument \"[partitions]\"")
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	switch {
	case p.has("create"):
		return createTopic(ctx, e, c, p)
	case p.has("list"):
		names, err := matchingTopics(ctx, c, p)
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Fprintln(e.stdout, n)
		}
		return nil
	case p.has("describe"):
		return describeTopics(ctx, e, c, p)
	case p.has("alter"):
		return alterTopics(ctx, c, p)
	default:
		return deleteTopics(ctx, c, p)
	}
}

func intOpt(p *parsed, name string, def int64) (int64, error) {
	v := p.str(name, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, usagef("Cannot parse argument '%s' of option %s", v, name)
	}
	return n, nil
}

func createTopic(ctx context.Context, e *env, c *connection, p *parsed) error {
	name := p.str("topic", "")
	parts, err := intOpt(p, "partitions", -1)
	if err != nil {
		return err
	}
	rf, err := intOpt(p, "replication-factor", -1)
	if err != nil {
		return err
	}
	if p.has("replication-factor") && (rf < 1 || rf > 32767) {
		return errors.New("The replication factor must be between 1 and 32767 inclusive")
	}
	if p.has("partitions") && parts < 1 {
		return errors.New("The partitions must be greater than 0")
	}
	cfg := map[string]string{}
	if err := parseKeyValues(p.all("config"), cfg); err != nil {
		return err
	}
	if strings.ContainsAny(name, "._") {
		fmt.Fprintln(e.stdout, "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.")
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(c.timeout.Milliseconds())
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, int32(parts), int16(rf)
	if a := p.str("replica-assignment", ""); a != "" {
		assignment, err := parseReplicaAssignment(a)
		if err != nil {
			return err
		}
		t.NumPartitions, t.ReplicationFactor = -1, -1
		for i, replicas := range assignment {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(i), replicas
			t.ReplicaAssignment = append(t.ReplicaAssignment, ra)
		}
	}
	for k, v := range cfg {
		tc := kmsg.NewCreateTopicsRequestTopicConfig()
		tc.Name, tc.Value = k, kmsg.StringPtr(v)
		t.Configs = append(t.Configs, tc)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			if errors.Is(err, kerr.TopicAlreadyExists) && p.has("if-not-exists") {
				return nil
			}
			return kafkaError(err, deref(rt.ErrorMessage), name)
		}
	}
	fmt.Fprintf(e.stdout, "Created topic %s.\n", name)
	return nil
}

// parseReplicaAssignment reads "1:2,2:3" (replicas of partition 0, then of 1, ...).
func parseReplicaAssignment(s string) ([][]int32, error) {
	var out [][]int32
	for _, part := range strings.Split(s, ",") {
		var replicas []int32
		for _, r := range strings.Split(part, ":") {
			n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("Invalid replica assignment %q: %v", s, err)
			}
			replicas = append(replicas, int32(n))
		}
		out = append(out, replicas)
	}
	return out, nil
}

// kafkaError words a Kafka error code as the Java client's exception message does: the broker's
// message when it sent one, else the error's description, with Kafka's wording for the
// commonest ones.
func kafkaError(err error, msg, topic string) error {
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("Topic '%s' already exists.", topic)
	case msg != "":
		return errors.New(msg)
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return errors.New(ke.Description)
	}
	return err
}

// topicFilter is Kafka's IncludeList: the --topic value as a Java regular expression matching
// the whole name, commas standing for "|".
func topicFilter(expr string) (*regexp.Regexp, error) {
	expr = strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(expr), ",", "|"), " ", "")
	expr = strings.Trim(expr, `"'`)
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("Invalid topic include list %q: %v", expr, err)
	}
	return re, nil
}

func isInternal(topic string) bool {
	return topic == "__consumer_offsets" || topic == "__transaction_state"
}

// matchingTopics lists the topics --topic matches (all without it), sorted, leaving out internal
// ones under --exclude-internal; a --topic that matches nothing is an error unless --if-exists
// (Kafka's ensureTopicExists).
func matchingTopics(ctx context.Context, c *connection, p *parsed) ([]string, error) {
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if t := p.str("topic", ""); t != "" {
		if re, err = topicFilter(t); err != nil {
			return nil, err
		}
	}
	var names []string
	for name, td := range md.Topics {
		if (td.IsInternal || isInternal(name)) && p.has("exclude-internal") {
			continue
		}
		if re != nil && !re.MatchString(name) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if t := p.str("topic", ""); t != "" && len(names) == 0 && !p.has("if-exists") && !p.has("list") {
		return nil, fmt.Errorf("Topic '%s' does not exist as expected", t)
	}
	return names, nil
}

func alterTopics(ctx context.Context, c *connection, p *parsed) error {
	if p.has("config") {
		return usagef("Option \"[config]\" can't be used with option \"[alter]\" (To alter topic configurations, the kafka-configs tool can be used.)")
	}
	names, err := matchingTopics(ctx, c, p)
	if err != nil || len(names) == 0 {
		return err
	}
	parts, err := intOpt(p, "partitions", -1)
	if err != nil {
		return err
	}
	if parts < 1 {
		return usagef("Missing required argument \"[partitions]\"")
	}
	resps, err := c.adm.UpdatePartitions(ctx, int(parts), names...)
	if err != nil {
		return err
	}
	for _, n := range names {
		if r := resps[n]; r.Err != nil {
			return kafkaError(r.Err, r.ErrMessage, n)
		}
	}
	return nil
}

func deleteTopics(ctx context.Context, c *connection, p *parsed) error {
	names, err := matchingTopics(ctx, c, p)
	if err != nil || len(names) == 0 {
		return err
	}
	for _, n := range names {
		if isInternal(n) {
			return fmt.Errorf("Topic %s is a kafka internal topic and is not allowed to be marked for deletion.", n)
		}
	}
	resps, err := c.adm.DeleteTopics(ctx, names...)
	if err != nil {
		return err
	}
	for _, n := range names {
		if r := resps[n]; r.Err != nil {
			return kafkaError(r.Err, r.ErrMessage, n)
		}
	}
	return nil
}

// kafkaUUID prints a topic ID as Kafka's Uuid.toString does: URL-safe base64 without padding.
func kafkaUUID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func describeTopics(ctx context.Context, e *env, c *connection, p *parsed) error {
	names, err := matchingTopics(ctx, c, p)
	if err != nil || len(names) == 0 {
		return err
	}
	md, err := c.adm.Metadata(ctx, names...)
	if err != nil {
		return err
	}
	configs, err := c.adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return err
	}
	live := map[int32]bool{}
	for _, b := range md.Brokers {
		live[b.NodeID] = true
	}
	// Reassignments in progress add columns; a cluster that cannot list them shows none, as
	// Kafka's tool does on UnsupportedVersion.
	reassigning := map[string]map[int32]kadm.ListPartitionReassignmentsResponse{}
	if rs, err := c.adm.ListPartitionReassignments(ctx, kadm.TopicsSet{}); err == nil {
		rs.Each(func(r kadm.ListPartitionReassignmentsResponse) {
			if reassigning[r.Topic] == nil {
				reassigning[r.Topic] = map[int32]kadm.ListPartitionReassignmentsResponse{}
			}
			reassigning[r.Topic][r.Partition] = r
		})
	}
	reportURP, reportUnavail := p.has("under-replicated-partitions"), p.has("unavailable-partitions")
	reportUnderMin, reportAtMin := p.has("under-min-isr-partitions"), p.has("at-min-isr-partitions")
	describeConfigs := !reportURP && !reportUnavail && !reportUnderMin && !reportAtMin
	describePartitions := !p.has("topics-with-overrides")
	for _, name := range names {
		td, ok := md.Topics[name]
		if !ok {
			continue
		}
		if td.Err != nil {
			return kafkaError(td.Err, "", name)
		}
		rc, err := configs.On(name, nil)
		if err != nil {
			return err
		}
		if rc.Err != nil {
			return kafkaError(rc.Err, rc.ErrMessage, name)
		}
		var overrides []string
		minISR := 1
		for _, cf := range rc.Configs {
			if cf.Key == "min.insync.replicas" && cf.Value != nil {
				minISR, _ = strconv.Atoi(*cf.Value)
			}
			if cf.Source == kmsg.ConfigSourceDefaultConfig {
				continue
			}
			v := "null"
			if cf.Value != nil {
				v = *cf.Value
			}
			overrides = append(overrides, cf.Key+"="+v)
		}
		sort.Strings(overrides)
		parts := td.Partitions.Sorted()
		if len(parts) == 0 {
			continue
		}
		rf := func(pd kadm.PartitionDetail) int {
			n := len(pd.Replicas)
			if r, ok := reassigning[name][pd.Partition]; ok {
				n -= len(r.AddingReplicas)
			}
			return n
		}
		if describeConfigs && (!p.has("topics-with-overrides") || len(overrides) > 0) {
			fmt.Fprintf(e.stdout, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
				name, kafkaUUID(td.ID), len(parts), rf(parts[0]), strings.Join(overrides, ","))
		}
		if !describePartitions {
			continue
		}
		for _, pd := range parts {
			hasLeader := pd.Leader >= 0
			show := describeConfigs ||
				(reportURP && rf(pd)-len(pd.ISR) > 0) ||
				(reportUnavail && (!hasLeader || !live[pd.Leader])) ||
				(reportUnderMin && (!hasLeader || len(pd.ISR) < minISR)) ||
				(reportAtMin && len(pd.ISR) == minISR)
			if !show {
				continue
			}
			leader := "none"
			if hasLeader {
				leader = strconv.Itoa(int(pd.Leader))
			}
			line := fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
				name, pd.Partition, leader, joinIDs(pd.Replicas), joinIDs(pd.ISR))
			if r, ok := reassigning[name][pd.Partition]; ok {
				line += fmt.Sprintf("\tAdding Replicas: %s\tRemoving Replicas: %s", joinIDs(r.AddingReplicas), joinIDs(r.RemovingReplicas))
			}
			fmt.Fprintln(e.stdout, line)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
