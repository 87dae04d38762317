package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolLink makes a link named like Kafka's script (kafka-topics.sh) to the minikraft binary, as
// the image ships them, and returns its path.
func toolLink(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(binPath, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// runTool runs a tool process and returns its exit status and outputs.
func runTool(t *testing.T, stdin, prog string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return code, out.String(), errb.String()
}

func mustTool(t *testing.T, stdin, prog string, args ...string) string {
	t.Helper()
	code, out, errs := runTool(t, stdin, prog, args...)
	if code != 0 {
		t.Fatalf("%s %v: exit %d\n%s\n%s", filepath.Base(prog), args, code, out, errs)
	}
	return out
}

// TestKafkaToolsBinary runs Kafka's tools as processes of the built binary, under the scripts'
// names and as `minikraft kafka-...`, against one node and then three.
func TestKafkaToolsBinary(t *testing.T) {
	n := startSingle(t)
	topics := toolLink(t, "kafka-topics.sh")
	producer := toolLink(t, "kafka-console-producer")
	consumer := toolLink(t, "kafka-console-consumer.sh")
	groups := toolLink(t, "kafka-consumer-groups.sh")

	// The compose healthcheck: ["CMD", "kafka-topics.sh", "--bootstrap-server", ..., "--list"].
	mustTool(t, "", topics, "--bootstrap-server", n.addr, "--list")
	if out := mustTool(t, "", topics, "--bootstrap-server", n.addr, "--create", "--topic", "e2e", "--partitions", "2"); out != "Created topic e2e.\n" {
		t.Fatalf("create printed %q", out)
	}
	if out := mustTool(t, "", binPath, "kafka-topics", "--bootstrap-server", n.addr, "--list", "--exclude-internal"); out != "e2e\n" {
		t.Fatalf("minikraft kafka-topics --list printed %q", out)
	}
	code, out, errs := runTool(t, "", topics, "--bootstrap-server", n.addr, "--lisst")
	if code != 1 || out != "" || !strings.HasPrefix(errs, "lisst is not a recognized option\n") {
		t.Fatalf("unknown option: exit %d %q %q", code, out, errs)
	}
	mustTool(t, "a:1\nb:2\nc:3\n", producer, "--bootstrap-server", n.addr, "--topic", "e2e", "--property", "parse.key=true", "--property", "key.separator=:")
	out = mustTool(t, "", consumer, "--bootstrap-server", n.addr, "--topic", "e2e", "--group", "eg", "--from-beginning", "--max-messages", "3", "--property", "print.key=true")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("consumer printed %q", out)
	}
	for _, l := range lines {
		if l != "a\t1" && l != "b\t2" && l != "c\t3" {
			t.Fatalf("consumer line %q", l)
		}
	}
	out = mustTool(t, "", groups, "--bootstrap-server", n.addr, "--describe", "--group", "eg")
	rows := strings.Split(strings.Trim(out, "\n"), "\n")
	if strings.Join(strings.Fields(rows[0]), " ") != "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID" || len(rows) < 2 {
		t.Fatalf("describe printed %q", out)
	}
	// Rows for the partitions the group committed (keys may hash to one partition only).
	committed := 0
	for _, r := range rows[1:] {
		f := strings.Fields(r)
		if f[0] != "eg" || f[1] != "e2e" || f[3] != f[4] || f[5] != "0" {
			t.Fatalf("lag row %q", r)
		}
		var n int
		fmt.Sscan(f[3], &n)
		committed += n
	}
	if committed != 3 {
		t.Fatalf("the group committed %d records, want 3: %q", committed, out)
	}

	c := startCluster(t, 3)
	c.waitBrokers(t, 3)
	bs := strings.Join(c.addrs(), ",")
	mustTool(t, "", topics, "--bootstrap-server", bs, "--create", "--topic", "r3", "--partitions", "3", "--replication-factor", "3")
	out = mustTool(t, "", topics, "--bootstrap-server", bs, "--describe", "--topic", "r3")
	if !strings.Contains(out, "\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: ") || strings.Count(out, "\tTopic: r3\tPartition: ") != 3 {
		t.Fatalf("describe on three nodes %q", out)
	}
	out = mustTool(t, "", toolLink(t, "kafka-metadata-quorum.sh"), "--bootstrap-server", bs, "describe", "--status")
	if !strings.Contains(out, "\nCurrentVoters:          [") || !strings.HasPrefix(out, "ClusterId:              ") {
		t.Fatalf("quorum status %q", out)
	}
}

// TestKafkaToolsCommandConfig uses --command-config for SASL_SSL (PLAIN, PEM truststore), SSL
// with a client certificate (PEM keystore) and SCRAM credentials made with kafka-configs.
func TestKafkaToolsCommandConfig(t *testing.T) {
	e := newSecureEnv(t)
	nodes, ps := startSecureCluster(t, e, 1)
	topics := toolLink(t, "kafka-topics.sh")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plainCfg := write("plain.properties", fmt.Sprintf(`security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";
ssl.truststore.type=PEM
ssl.truststore.location=%s
`, e.caFile))
	sslAddr := fmt.Sprintf("127.0.0.1:%d", ps[0].ssl)
	saslSSLAddr := fmt.Sprintf("127.0.0.1:%d", ps[0].saslSSL)
	mustTool(t, "", topics, "--bootstrap-server", saslSSLAddr, "--command-config", plainCfg, "--create", "--topic", "sec")
	keystore := write("client.pem", string(e.client.KeyPEM)+string(e.client.CertPEM))
	sslCfg := write("ssl.properties", fmt.Sprintf("security.protocol=SSL\nssl.truststore.location=%s\nssl.keystore.type=PEM\nssl.keystore.location=%s\n", e.caFile, keystore))
	if out := mustTool(t, "", topics, "--bootstrap-server", sslAddr, "--command-config", sslCfg, "--list", "--exclude-internal"); out != "sec\n" {
		t.Fatalf("--list over SSL printed %q", out)
	}
	mustTool(t, "", toolLink(t, "kafka-configs.sh"), "--bootstrap-server", nodes[0].addr, "--alter", "--entity-type", "users", "--entity-name", "bob", "--add-config", "SCRAM-SHA-512=[iterations=4096,password=bob-secret]")
	scramCfg := write("scram.properties", `security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="bob" password="bob-secret";
`)
	saslPlainAddr := fmt.Sprintf("127.0.0.1:%d", ps[0].saslPlain)
	eventually(t, 10*time.Second, "SCRAM login with kafka-configs' credential", func() bool {
		code, out, _ := runTool(t, "", topics, "--bootstrap-server", saslPlainAddr, "--command-config", scramCfg, "--list", "--exclude-internal")
		return code == 0 && out == "sec\n"
	})
	wrong := write("wrong.properties", strings.Replace(scramCfg, "bob-secret", "nope", 1)+"default.api.timeout.ms=5000\n")
	if code, _, _ := runTool(t, "", topics, "--bootstrap-server", saslPlainAddr, "--command-config", wrong, "--list"); code != 1 {
		t.Fatalf("a wrong password: exit %d", code)
	}
}
