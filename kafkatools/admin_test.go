package kafkatools_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minikraft/minikraft"
)

func TestConfigsOffsetsDeleteRecords(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.Quiet())
	bs := c.Addrs()[0]
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "t", "--partitions", "2")
	out := ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--alter", "--entity-type", "topics", "--entity-name", "t", "--add-config", "retention.ms=1000,cleanup.policy=[delete]")
	if out != "Completed updating config for topic t.\n" {
		t.Fatalf("alter printed %q", out)
	}
	out = ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--describe", "--entity-type", "topics", "--entity-name", "t")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != "Dynamic configs for topic t are:" || len(lines) != 3 {
		t.Fatalf("describe printed %q", out)
	}
	re := regexp.MustCompile(`^  (cleanup\.policy=delete|retention\.ms=1000) sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:(cleanup\.policy=delete|retention\.ms=1000)(, .*)?\}$`)
	for _, l := range lines[1:] {
		if !re.MatchString(l) {
			t.Fatalf("config line %q", l)
		}
	}
	ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--alter", "--topic", "t", "--delete-config", "retention.ms")
	out = ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--describe", "--topic", "t")
	if strings.Contains(out, "retention.ms") || !strings.Contains(out, "cleanup.policy=delete") {
		t.Fatalf("after --delete-config: %q", out)
	}
	if code, _, errs := run(t, "", "kafka-configs", "--bootstrap-server", bs, "--describe", "--entity-type", "widgets"); code != 1 || !strings.HasPrefix(errs, "Invalid entity type widgets") {
		t.Fatalf("bad entity type: exit %d %q", code, errs)
	}

	// SCRAM credentials through AlterUserScramCredentials.
	out = ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--alter", "--entity-type", "users", "--entity-name", "alice", "--add-config", "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=x]")
	if out != "Completed updating config for user alice.\n" {
		t.Fatalf("scram alter printed %q", out)
	}
	out = ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--describe", "--entity-type", "users", "--entity-name", "alice")
	if out != "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, SCRAM-SHA-512=iterations=4096\n" {
		t.Fatalf("scram describe printed %q", out)
	}
	ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--alter", "--entity-type", "users", "--entity-name", "alice", "--delete-config", "SCRAM-SHA-512")
	out = ok(t, "", "kafka-configs", "--bootstrap-server", bs, "--describe", "--user", "alice")
	if out != "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192\n" {
		t.Fatalf("scram describe after delete printed %q", out)
	}

	// Five records in partition 0, two in partition 1.
	ok(t, "a\nb\nc\nd\ne\n", "kafka-console-producer", "--bootstrap-server", bs, "--topic", "t", "--producer-property", "partitioner.class=ignored")
	out = ok(t, "", "kafka-get-offsets", "--bootstrap-server", bs, "--topic", "t")
	total := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, ":")
		if len(f) != 3 || f[0] != "t" {
			t.Fatalf("get-offsets line %q", l)
		}
		n := 0
		for _, r := range f[2] {
			n = n*10 + int(r-'0')
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("end offsets sum to %d, want 5: %q", total, out)
	}
	if out := ok(t, "", "kafka-get-offsets", "--bootstrap-server", bs, "--topic", "t", "--partitions", "1", "--time", "-2"); out != "t:1:0\n" {
		t.Fatalf("earliest of t:1 printed %q", out)
	}
	// Put all five in partition 0 of a new topic to delete from.
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "d", "--partitions", "1")
	ok(t, "a\nb\nc\nd\ne\n", "kafka-console-producer", "--bootstrap-server", bs, "--topic", "d")
	f := filepath.Join(t.TempDir(), "offsets.json")
	os.WriteFile(f, []byte(`{"partitions":[{"topic":"d","partition":0,"offset":3}],"version":1}`), 0o644)
	out = ok(t, "", "kafka-delete-records", "--bootstrap-server", bs, "--offset-json-file", f)
	if out != "Executing records delete operation\nRecords delete operation completed:\npartition: d-0\tlow_watermark: 3\n" {
		t.Fatalf("delete-records printed %q", out)
	}
	if out := ok(t, "", "kafka-get-offsets", "--bootstrap-server", bs, "--topic", "d", "--time", "earliest"); out != "d:0:3\n" {
		t.Fatalf("after delete-records: %q", out)
	}
	out = ok(t, "", "kafka-console-consumer", "--bootstrap-server", bs, "--topic", "d", "--from-beginning", "--timeout-ms", "1500")
	if out != "d\ne\n" {
		t.Fatalf("consumer after delete-records printed %q", out)
	}
}

func TestQuorumAndReassignThreeNodes(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.Quiet())
	bs := strings.Join(c.Addrs(), ",")
	out := ok(t, "", "kafka-metadata-quorum", "--bootstrap-server", bs, "describe", "--status")
	re := regexp.MustCompile(`^ClusterId:              \S+\nLeaderId:               [0-2]\nLeaderEpoch:            \d+\nHighWatermark:          \d+\nMaxFollowerLag:         \d+\nMaxFollowerLagTimeMs:   -?\d+\nCurrentVoters:          \[[0-2],[0-2],[0-2]\]\nCurrentObservers:       \[.*\]\n$`)
	if !re.MatchString(out) {
		t.Fatalf("--status printed %q", out)
	}
	out = ok(t, "", "kafka-metadata-quorum", "--bootstrap-server", bs, "describe", "--replication")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "NodeId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status" || len(lines) < 4 {
		t.Fatalf("--replication printed %q", out)
	}
	if f := strings.Fields(lines[1]); f[5] != "Leader" || f[2] != "0" {
		t.Fatalf("first row %q", lines[1])
	}
	if code, _, errs := run(t, "", "kafka-metadata-quorum", "--bootstrap-server", bs, "describe"); code != 1 || !strings.Contains(errs, "--status --replication is required") {
		t.Fatalf("describe without --status: %d %q", code, errs)
	}

	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "r", "--partitions", "2", "--replication-factor", "3")
	out = ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--describe", "--topic", "r")
	if !strings.Contains(out, "ReplicationFactor: 3") || strings.Count(out, "\tTopic: r\tPartition: ") != 2 {
		t.Fatalf("describe rf 3: %q", out)
	}
	dir := t.TempDir()
	move := filepath.Join(dir, "move.json")
	os.WriteFile(move, []byte(`{"topics":[{"topic":"r"}],"version":1}`), 0o644)
	out = ok(t, "", "kafka-reassign-partitions", "--bootstrap-server", bs, "--generate", "--topics-to-move-json-file", move, "--broker-list", "0,1,2")
	if !strings.HasPrefix(out, "Current partition replica assignment\n{\"version\":1,\"partitions\":[{\"topic\":\"r\",\"partition\":0,") || !strings.Contains(out, "\n\nProposed partition reassignment configuration\n{") {
		t.Fatalf("--generate printed %q", out)
	}
	plan := filepath.Join(dir, "plan.json")
	os.WriteFile(plan, []byte(`{"version":1,"partitions":[{"topic":"r","partition":0,"replicas":[2,1,0]},{"topic":"r","partition":1,"replicas":[1,0,2]}]}`), 0o644)
	out = ok(t, "", "kafka-reassign-partitions", "--bootstrap-server", bs, "--execute", "--reassignment-json-file", plan)
	if !strings.Contains(out, "Successfully started partition reassignments for r-0,r-1\n") {
		t.Fatalf("--execute printed %q", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = ok(t, "", "kafka-reassign-partitions", "--bootstrap-server", bs, "--verify", "--reassignment-json-file", plan)
		if out == "Status of partition reassignment:\nReassignment of partition r-0 is completed.\nReassignment of partition r-1 is completed.\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--verify printed %q", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// --verify read the controller's view; the broker a describe reaches may apply the
	// completion a moment later, as in Kafka.
	for {
		out = ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--describe", "--topic", "r")
		if strings.Contains(out, "\tPartition: 0\tLeader: ") && strings.Contains(out, "Replicas: 2,1,0") && strings.Contains(out, "Replicas: 1,0,2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe after reassignment %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A stopped node leaves its partitions under-replicated.
	if err := c.StopNode(2); err != nil {
		t.Fatal(err)
	}
	bs = strings.Join(c.Addrs()[:2], ",")
	deadline = time.Now().Add(30 * time.Second)
	for {
		out = ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--describe", "--under-replicated-partitions")
		if strings.Count(out, "\tTopic: r\t") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--under-replicated-partitions with a node down printed %q", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if strings.Contains(out, "PartitionCount") {
		t.Fatalf("--under-replicated-partitions printed a topic line: %q", out)
	}
}
