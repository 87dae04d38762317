package kafkatools

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	register(&tool{
		name:    "kafka-reassign-partitions",
		summary: "This tool helps to move topic partitions between replicas.",
		options: []option{
			{name: "bootstrap-server", arg: "String: Server(s) to use for bootstrapping", help: "REQUIRED: the server(s) to use for bootstrapping."},
			{name: "command-config", arg: "String: Admin client property file", help: "Property file containing configs to be passed to Admin Client."},
			{name: "generate", help: "Generate a candidate partition reassignment configuration. Note that this only generates a candidate assignment, it does not execute it."},
			{name: "execute", help: "Kick off the reassignment as specified by the --reassignment-json-file option."},
			{name: "verify", help: "Verify if the reassignment completed as specified by the --reassignment-json-file option."},
			{name: "list", help: "List all active partition reassignments."},
			{name: "cancel", help: "Cancel an active reassignment."},
			{name: "reassignment-json-file", arg: "String: manual assignment json file path", help: "The JSON file with the partition reassignment configuration."},
			{name: "topics-to-move-json-file", arg: "String: topics to reassign json file path", help: "Generate a reassignment configuration to move the partitions of the specified topics to the list of brokers specified by the --broker-list option."},
			{name: "broker-list", arg: "String: brokerlist", help: "The list of brokers to which the partitions need to be reassigned in the form \"0,1,2\"."},
			{name: "disable-rack-aware", help: "Disable rack aware replica assignment"},
			{name: "preserve-throttles", help: "Do not modify broker or topic throttles."},
			{name: "throttle", arg: "Long: throttle", help: "Ignored: minikraft has no replication throttles."},
			{name: "timeout", arg: "Long: timeout", help: "The maximum time in ms to wait for log directory replica assignment to begin."},
		},
		run: runReassign,
		report: func(e *env, _ []string, err error) {
			fmt.Fprintln(e.stderr, "Error: "+err.Error())
		},
	})
}

// assignment is the reassignment JSON's format.
type assignment struct {
	Version    int                `json:"version"`
	Partitions []partitionReplica `json:"partitions"`
}

type partitionReplica struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs"`
}

func (a assignment) String() string {
	sort.Slice(a.Partitions, func(i, j int) bool {
		if a.Partitions[i].Topic != a.Partitions[j].Topic {
			return a.Partitions[i].Topic < a.Partitions[j].Topic
		}
		return a.Partitions[i].Partition < a.Partitions[j].Partition
	})
	for i := range a.Partitions {
		if len(a.Partitions[i].LogDirs) == 0 {
			a.Partitions[i].LogDirs = make([]string, len(a.Partitions[i].Replicas))
			for j := range a.Partitions[i].LogDirs {
				a.Partitions[i].LogDirs[j] = "any"
			}
		}
	}
	b, _ := json.Marshal(a)
	return string(b)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("Failed to parse %s: %v", path, err)
	}
	return nil
}

func runReassign(ctx context.Context, e *env, p *parsed) error {
	if err := needOne(p, "Command must include exactly one action: --generate, --execute, --verify, --cancel, or --list", "generate", "execute", "verify", "list", "cancel"); err != nil {
		return err
	}
	if err := required(p, "bootstrap-server"); err != nil {
		return err
	}
	if p.has("generate") {
		if err := required(p, "topics-to-move-json-file", "broker-list"); err != nil {
			return err
		}
	}
	if (p.has("execute") || p.has("verify") || p.has("cancel")) && !p.has("reassignment-json-file") {
		return usagef("Missing required argument \"[reassignment-json-file]\"")
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	switch {
	case p.has("generate"):
		return generateReassignment(ctx, e, c, p)
	case p.has("list"):
		rs, err := c.adm.ListPartitionReassignments(ctx, kadm.TopicsSet{})
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			fmt.Fprintln(e.stdout, "No partition reassignments found.")
			return nil
		}
		fmt.Fprintln(e.stdout, "Current partition reassignments:")
		for _, r := range rs.Sorted() {
			fmt.Fprintf(e.stdout, "%s-%d: replicas: %s. adding: %s. removing: %s.\n", r.Topic, r.Partition, joinIDs(r.Replicas), joinIDs(r.AddingReplicas), joinIDs(r.RemovingReplicas))
		}
		return nil
	}
	var want assignment
	if err := readJSON(p.str("reassignment-json-file", ""), &want); err != nil {
		return err
	}
	if len(want.Partitions) == 0 {
		return fmt.Errorf("Partition reassignment list cannot be empty")
	}
	switch {
	case p.has("execute"):
		return executeReassignment(ctx, e, c, want)
	case p.has("cancel"):
		req := kadm.AlterPartitionAssignmentsReq{}
		for _, pr := range want.Partitions {
			req.CancelAssign(pr.Topic, pr.Partition)
		}
		resps, err := c.adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			return err
		}
		if err := resps.Error(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Successfully cancelled partition reassignments for: %s\n", partitionNames(want))
		return nil
	default:
		return verifyReassignment(ctx, e, c, want)
	}
}

func partitionNames(a assignment) string {
	var names []string
	for _, pr := range a.Partitions {
		names = append(names, fmt.Sprintf("%s-%d", pr.Topic, pr.Partition))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// currentAssignment is the replicas of the topics' partitions now.
func currentAssignment(ctx context.Context, c *connection, topics []string) (assignment, error) {
	md, err := c.adm.Metadata(ctx, topics...)
	if err != nil {
		return assignment{}, err
	}
	cur := assignment{Version: 1}
	for _, t := range topics {
		td, ok := md.Topics[t]
		if !ok || td.Err != nil {
			return assignment{}, fmt.Errorf("Topic %s not found", t)
		}
		for _, pd := range td.Partitions.Sorted() {
			cur.Partitions = append(cur.Partitions, partitionReplica{Topic: t, Partition: pd.Partition, Replicas: pd.Replicas})
		}
	}
	return cur, nil
}

func generateReassignment(ctx context.Context, e *env, c *connection, p *parsed) error {
	var move struct {
		Topics []struct {
			Topic string `json:"topic"`
		} `json:"topics"`
	}
	if err := readJSON(p.str("topics-to-move-json-file", ""), &move); err != nil {
		return err
	}
	var brokers []int32
	for _, s := range strings.Split(p.str("broker-list", ""), ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return usagef("Invalid broker list %q", p.str("broker-list", ""))
		}
		brokers = append(brokers, int32(n))
	}
	var topics []string
	for _, t := range move.Topics {
		topics = append(topics, t.Topic)
	}
	if len(topics) == 0 {
		return fmt.Errorf("List of topics to reassign contains no topic")
	}
	cur, err := currentAssignment(ctx, c, topics)
	if err != nil {
		return err
	}
	proposed := assignment{Version: 1}
	for _, pr := range cur.Partitions {
		rf := len(pr.Replicas)
		if rf > len(brokers) {
			return fmt.Errorf("Replication factor: %d larger than available brokers: %d.", rf, len(brokers))
		}
		// Round-robin over the given brokers, as Kafka's rack-unaware assignment does, from a
		// start that moves with the partition so leaders spread.
		replicas := make([]int32, rf)
		for i := range replicas {
			replicas[i] = brokers[(int(pr.Partition)+i)%len(brokers)]
		}
		proposed.Partitions = append(proposed.Partitions, partitionReplica{Topic: pr.Topic, Partition: pr.Partition, Replicas: replicas})
	}
	fmt.Fprintf(e.stdout, "Current partition replica assignment\n%s\n\nProposed partition reassignment configuration\n%s\n", cur, proposed)
	return nil
}

func executeReassignment(ctx context.Context, e *env, c *connection, want assignment) error {
	topicSet := map[string]bool{}
	for _, pr := range want.Partitions {
		topicSet[pr.Topic] = true
	}
	var topics []string
	for t := range topicSet {
		topics = append(topics, t)
	}
	cur, err := currentAssignment(ctx, c, topics)
	if err != nil {
		return err
	}
	// Only the partitions the file names, as Kafka prints them for a rollback.
	wanted := map[string]bool{}
	for _, pr := range want.Partitions {
		wanted[fmt.Sprintf("%s-%d", pr.Topic, pr.Partition)] = true
	}
	rollback := assignment{Version: 1}
	for _, pr := range cur.Partitions {
		if wanted[fmt.Sprintf("%s-%d", pr.Topic, pr.Partition)] {
			rollback.Partitions = append(rollback.Partitions, pr)
		}
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, pr := range want.Partitions {
		req.Assign(pr.Topic, pr.Partition, pr.Replicas)
	}
	fmt.Fprintf(e.stdout, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", rollback)
	resps, err := c.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return err
	}
	var failed []string
	resps.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("%s-%d: %v", r.Topic, r.Partition, kafkaError(r.Err, r.ErrMessage, r.Topic)))
		}
	})
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("Error reassigning partition(s):\n%s", strings.Join(failed, "\n"))
	}
	fmt.Fprintf(e.stdout, "Successfully started partition reassignments for %s\n", partitionNames(want))
	return nil
}

func verifyReassignment(ctx context.Context, e *env, c *connection, want assignment) error {
	topicSet := map[string]bool{}
	for _, pr := range want.Partitions {
		topicSet[pr.Topic] = true
	}
	var topics []string
	for t := range topicSet {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	cur, err := currentAssignment(ctx, c, topics)
	if err != nil {
		return err
	}
	inProgress := map[string]bool{}
	if rs, err := c.adm.ListPartitionReassignments(ctx, kadm.TopicsSet{}); err == nil {
		rs.Each(func(r kadm.ListPartitionReassignmentsResponse) {
			inProgress[fmt.Sprintf("%s-%d", r.Topic, r.Partition)] = true
		})
	}
	now := map[string][]int32{}
	for _, pr := range cur.Partitions {
		now[fmt.Sprintf("%s-%d", pr.Topic, pr.Partition)] = pr.Replicas
	}
	fmt.Fprintln(e.stdout, "Status of partition reassignment:")
	sorted := append([]partitionReplica(nil), want.Partitions...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Topic != sorted[j].Topic {
			return sorted[i].Topic < sorted[j].Topic
		}
		return sorted[i].Partition < sorted[j].Partition
	})
	for _, pr := range sorted {
		key := fmt.Sprintf("%s-%d", pr.Topic, pr.Partition)
		switch {
		case inProgress[key]:
			fmt.Fprintf(e.stdout, "Reassignment of partition %s is still in progress.\n", key)
		case joinIDs(now[key]) == joinIDs(pr.Replicas):
			fmt.Fprintf(e.stdout, "Reassignment of partition %s is completed.\n", key)
		default:
			fmt.Fprintf(e.stdout, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n", key, "["+joinIDs(now[key])+"]", "["+joinIDs(pr.Replicas)+"]")
		}
	}
	return nil
}
