package kafkatools_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/kafkatools"
)

// run runs a tool in-process and returns its exit status, stdout and stderr.
func run(t *testing.T, stdin string, tool string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := kafkatools.Run(ctx, tool, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs a tool that must succeed and returns its stdout.
func ok(t *testing.T, stdin, tool string, args ...string) string {
	t.Helper()
	code, out, errs := run(t, stdin, tool, args...)
	if code != 0 {
		t.Fatalf("%s %v: exit %d\nstdout: %s\nstderr: %s", tool, args, code, out, errs)
	}
	return out
}

func TestTopicsOneNode(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.Quiet())
	bs := c.Addrs()[0]
	out := ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "orders", "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=60000", "--config", "cleanup.policy=delete")
	if out != "Created topic orders.\n" {
		t.Fatalf("create printed %q", out)
	}
	code, out, _ := run(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "orders", "--partitions", "3")
	if code != 1 || out != "Error while executing topic command : Topic 'orders' already exists.\n" {
		t.Fatalf("second create: exit %d, %q", code, out)
	}
	if out := ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--if-not-exists", "--topic", "orders", "--partitions", "3"); out != "" {
		t.Fatalf("--if-not-exists printed %q", out)
	}
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "audit")
	if out := ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--list", "--exclude-internal"); out != "audit\norders\n" {
		t.Fatalf("--list printed %q", out)
	}
	out = ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--describe", "--topic", "orders")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	head := regexp.MustCompile(`^Topic: orders\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: (.*)$`)
	m := head.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("describe header %q", lines[0])
	}
	if !strings.Contains(m[1], "cleanup.policy=delete") || !strings.Contains(m[1], "retention.ms=60000") {
		t.Fatalf("describe configs %q lack the overrides", m[1])
	}
	if len(lines) != 4 {
		t.Fatalf("describe printed %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines[1:] {
		want := regexp.MustCompile(`^\tTopic: orders\tPartition: ` + string(rune('0'+i)) + `\tLeader: 0\tReplicas: 0\tIsr: 0$`)
		if !want.MatchString(l) {
			t.Fatalf("partition line %q", l)
		}
	}
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--alter", "--topic", "orders", "--partitions", "5")
	out = ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--describe", "--topic", "orders")
	if !strings.Contains(out, "PartitionCount: 5") {
		t.Fatalf("after --alter: %s", out)
	}
	if out := ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--describe", "--under-replicated-partitions"); out != "" {
		t.Fatalf("--under-replicated-partitions on a healthy node printed %q", out)
	}
	code, out, _ = run(t, "", "kafka-topics", "--bootstrap-server", bs, "--delete", "--topic", "nosuch")
	if code != 1 || out != "Error while executing topic command : Topic 'nosuch' does not exist as expected\n" {
		t.Fatalf("delete missing: exit %d %q", code, out)
	}
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--delete", "--topic", "nosuch", "--if-exists")
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--delete", "--topic", "audit")
	if out := ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--list", "--exclude-internal"); out != "orders\n" {
		t.Fatalf("--list after delete printed %q", out)
	}
}

func TestUnknownOption(t *testing.T) {
	code, out, errs := run(t, "", "kafka-topics", "--bootstrap-server", "127.0.0.1:1", "--lst")
	if code != 1 || out != "" || !strings.HasPrefix(errs, "lst is not a recognized option\n") || !strings.Contains(errs, "--bootstrap-server <String: server to connect to>") {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errs)
	}
	code, _, errs = run(t, "", "kafka-console-consumer", "--bootstrap-server", "x:1", "--topic", "a", "--offset", "3")
	if code != 1 || !strings.HasPrefix(errs, "The partition is required when offset is specified.\n") {
		t.Fatalf("exit %d stderr %q", code, errs)
	}
	if code, out, _ := run(t, "", "kafka-topics", "--help"); code != 0 || !strings.Contains(out, "--create") {
		t.Fatalf("--help: exit %d %q", code, out)
	}
}

func TestProduceConsumeGroups(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.Quiet())
	bs := c.Addrs()[0]
	ok(t, "", "kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "t", "--partitions", "1")
	in := "k1:v1\nk2:v2\nk3:v3\nk4:v4\n"
	ok(t, in, "kafka-console-producer", "--bootstrap-server", bs, "--topic", "t", "--property", "parse.key=true", "--property", "key.separator=:", "--producer-property", "acks=all")
	code, _, errs := run(t, "novalue\n", "kafka-console-producer", "--bootstrap-server", bs, "--topic", "t", "--property", "parse.key=true")
	if code != 1 || !strings.Contains(errs, "No key separator found on line number 1: 'novalue'") {
		t.Fatalf("bad line: exit %d %q", code, errs)
	}
	code, out, errs := run(t, "", "kafka-console-consumer", "--bootstrap-server", bs, "--topic", "t", "--from-beginning", "--max-messages", "4",
		"--property", "print.key=true", "--property", "print.offset=true", "--property", "print.partition=true", "--property", "key.separator=|")
	if code != 0 || out != "Partition:0|Offset:0|k1|v1\nPartition:0|Offset:1|k2|v2\nPartition:0|Offset:2|k3|v3\nPartition:0|Offset:3|k4|v4\n" || !strings.Contains(errs, "Processed a total of 4 messages") {
		t.Fatalf("consumer: exit %d\n%s\n%s", code, out, errs)
	}
	out = ok(t, "", "kafka-console-consumer", "--bootstrap-server", bs, "--topic", "t", "--partition", "0", "--offset", "2", "--max-messages", "1")
	if out != "v3\n" {
		t.Fatalf("--offset 2 printed %q", out)
	}
	// A group that reads two of the four records, then the lag table.
	out = ok(t, "", "kafka-console-consumer", "--bootstrap-server", bs, "--topic", "t", "--group", "g1", "--from-beginning", "--max-messages", "2")
	if out != "v1\nv2\n" {
		t.Fatalf("group consumer printed %q", out)
	}
	if out := ok(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--list"); out != "g1\n" {
		t.Fatalf("--list printed %q", out)
	}
	code, out, errs = run(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--describe", "--group", "g1")
	if code != 0 || !strings.Contains(errs, "Consumer group 'g1' has no active members.") {
		t.Fatalf("describe: exit %d %q %q", code, out, errs)
	}
	lines := strings.Split(strings.Trim(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("describe printed %q", out)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID" {
		t.Fatalf("header %q", lines[0])
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "g1 t 0 2 4 2 - - -" {
		t.Fatalf("row %q", lines[1])
	}
	// Kafka's widths: group and topic at least 15, then 10, 15, 15, 15.
	if !strings.HasPrefix(lines[0], "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID") {
		t.Fatalf("header widths %q", lines[0])
	}
	out = ok(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--reset-offsets", "--group", "g1", "--topic", "t", "--to-earliest", "--execute")
	if f := strings.Fields(strings.Trim(out, "\n")); strings.Join(f, " ") != "GROUP TOPIC PARTITION NEW-OFFSET g1 t 0 0" {
		t.Fatalf("reset printed %q", out)
	}
	ok(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--reset-offsets", "--group", "g1", "--all-topics", "--shift-by", "3", "--execute")
	_, out, _ = run(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--describe", "--group", "g1")
	if f := strings.Fields(strings.Split(strings.Trim(out, "\n"), "\n")[1]); strings.Join(f, " ") != "g1 t 0 3 4 1 - - -" {
		t.Fatalf("after shift-by: %q", out)
	}
	out = ok(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--reset-offsets", "--group", "g1", "--topic", "t:0", "--to-offset", "1", "--dry-run")
	if !strings.Contains(out, "g1") || !strings.Contains(out, " 1") {
		t.Fatalf("dry-run printed %q", out)
	}
	_, out, _ = run(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--describe", "--group", "g1")
	if !strings.Contains(out, "g1              t               0          3") {
		t.Fatalf("dry-run changed the offset: %q", out)
	}
	out = ok(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--delete", "--group", "g1")
	if out != "Deletion of requested consumer groups ('g1') was successful.\n" {
		t.Fatalf("delete printed %q", out)
	}
	if out := ok(t, "", "kafka-consumer-groups", "--bootstrap-server", bs, "--list"); out != "" {
		t.Fatalf("--list after delete printed %q", out)
	}
}
