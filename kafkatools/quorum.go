package kafkatools

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&tool{
		name:    "kafka-metadata-quorum",
		summary: "This tool describes kraft metadata quorum status.\nusage: kafka-metadata-quorum [-h] --bootstrap-server BOOTSTRAP_SERVER [--command-config COMMAND_CONFIG] describe (--status | --replication) [--human-readable]",
		options: []option{
			{name: "bootstrap-server", arg: "String", help: "A comma-separated list of host:port pairs to use for establishing the connection to the Kafka cluster."},
			{name: "command-config", arg: "String", help: "Property file containing configs to be passed to Admin Client."},
			{name: "status", help: "A short summary of the quorum status and the other provides detailed information about the status of replication."},
			{name: "replication", help: "Detailed information about the status of replication"},
			{name: "human-readable", help: "Human-readable output"},
		},
		run: runQuorum,
		report: func(e *env, _ []string, err error) {
			fmt.Fprintln(e.stderr, err)
		},
	})
}

func runQuorum(ctx context.Context, e *env, p *parsed) error {
	if len(p.args) != 1 || p.args[0] != "describe" {
		if len(p.args) == 0 {
			return usagef("kafka-metadata-quorum: error: too few arguments")
		}
		return usagef("kafka-metadata-quorum: error: invalid choice: '%s' (choose from 'describe')", p.args[0])
	}
	if p.has("status") == p.has("replication") {
		return usagef("kafka-metadata-quorum: error: one of the arguments --status --replication is required")
	}
	if err := required(p, "bootstrap-server"); err != nil {
		return err
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return kafkaError(err, deref(resp.ErrorMessage), "")
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("the DescribeQuorum response has no __cluster_metadata partition")
	}
	q := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(q.ErrorCode); err != nil {
		return kafkaError(err, deref(q.ErrorMessage), "")
	}
	var leader *kmsg.DescribeQuorumResponseTopicPartitionReplicaState
	for i := range q.CurrentVoters {
		if q.CurrentVoters[i].ReplicaID == q.LeaderID {
			leader = &q.CurrentVoters[i]
		}
	}
	if leader == nil {
		return fmt.Errorf("the quorum has no leader among its voters (leader %d)", q.LeaderID)
	}
	if p.has("status") {
		md, err := c.adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		printQuorumStatus(e.stdout, md.Cluster, q, *leader)
		return nil
	}
	return printQuorumReplication(e.stdout, q, *leader, p.has("human-readable"), time.Now())
}

func ids(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.Itoa(int(r.ReplicaID))
	}
	return "[" + strings.Join(s, ",") + "]"
}

// printQuorumStatus writes Kafka 3.x's `describe --status`.
func printQuorumStatus(w io.Writer, cluster string, q kmsg.DescribeQuorumResponseTopicPartition, leader kmsg.DescribeQuorumResponseTopicPartitionReplicaState) {
	lagging := leader
	for _, v := range q.CurrentVoters {
		if v.LogEndOffset < lagging.LogEndOffset {
			lagging = v
		}
	}
	lagMs := int64(0)
	switch {
	case lagging.ReplicaID == leader.ReplicaID:
	case leader.LastCaughtUpTimestamp >= 0 && lagging.LastCaughtUpTimestamp >= 0:
		lagMs = leader.LastCaughtUpTimestamp - lagging.LastCaughtUpTimestamp
	default:
		lagMs = -1
	}
	fmt.Fprintf(w, "ClusterId:              %s\nLeaderId:               %d\nLeaderEpoch:            %d\nHighWatermark:          %d\nMaxFollowerLag:         %d\nMaxFollowerLagTimeMs:   %d\nCurrentVoters:          %s\nCurrentObservers:       %s\n",
		cluster, q.LeaderID, q.LeaderEpoch, q.HighWatermark, leader.LogEndOffset-lagging.LogEndOffset, lagMs, ids(q.CurrentVoters), ids(q.Observers))
}

// printQuorumReplication writes Kafka 3.x's `describe --replication` table: the leader, the
// other voters, the observers, columns padded to their widest cell and ended by tabs
// (ToolsUtils.prettyPrintTable).
func printQuorumReplication(w io.Writer, q kmsg.DescribeQuorumResponseTopicPartition, leader kmsg.DescribeQuorumResponseTopicPartitionReplicaState, human bool, now time.Time) error {
	rows := [][]string{{"NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"}}
	ts := func(ms int64) string {
		if ms < 0 {
			return "-1"
		}
		if human {
			return fmt.Sprintf("%d ms ago", max(0, now.UnixMilli()-ms))
		}
		return strconv.FormatInt(ms, 10)
	}
	add := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, status string) {
		rows = append(rows, []string{strconv.Itoa(int(r.ReplicaID)), strconv.FormatInt(r.LogEndOffset, 10),
			strconv.FormatInt(leader.LogEndOffset-r.LogEndOffset, 10), ts(r.LastFetchTimestamp), ts(r.LastCaughtUpTimestamp), status})
	}
	add(leader, "Leader")
	for _, v := range q.CurrentVoters {
		if v.ReplicaID != leader.ReplicaID {
			add(v, "Follower")
		}
	}
	for _, o := range q.Observers {
		add(o, "Observer")
	}
	printTable(w, rows)
	return nil
}

// printTable is Kafka's ToolsUtils.prettyPrintTable: each cell padded to its column's widest,
// followed by a tab.
func printTable(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			fmt.Fprintf(&b, "%-*s\t", widths[i], c)
		}
		fmt.Fprintln(w, b.String())
	}
}
