package kafkatools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPropertiesAndSecurity(t *testing.T) {
	f := filepath.Join(t.TempDir(), "client.properties")
	os.WriteFile(f, []byte(`# a comment
security.protocol=SASL_PLAINTEXT
sasl.mechanism : SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="alice" \
    password="a\"b";
! another comment
client.id  tools
`), 0o644)
	props, err := readProperties(f)
	if err != nil {
		t.Fatal(err)
	}
	if props["security.protocol"] != "SASL_PLAINTEXT" || props["sasl.mechanism"] != "SCRAM-SHA-256" || props["client.id"] != "tools" {
		t.Fatalf("props %q", props)
	}
	user, pass, err := jaasCredentials(props["sasl.jaas.config"])
	if err != nil || user != "alice" || pass != `a"b` {
		t.Fatalf("jaas: %q %q %v", user, pass, err)
	}
	if opts, err := securityOpts(props); err != nil || len(opts) != 1 {
		t.Fatalf("securityOpts: %d options, %v", len(opts), err)
	}
	for _, bad := range []map[string]string{
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI", "sasl.jaas.config": `x.PlainLoginModule required username="a" password="b";`},
		{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"},
		{"security.protocol": "TLS"},
		{"security.protocol": "SSL", "ssl.truststore.location": f},
	} {
		if _, err := securityOpts(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestSplitConfigsAndOptions(t *testing.T) {
	kv, err := splitConfigs("SCRAM-SHA-256=[iterations=8192,password=x],retention.ms=5,a=[1,2]")
	if err != nil || len(kv) != 3 || kv[0] != [2]string{"SCRAM-SHA-256", "iterations=8192,password=x"} || kv[2] != [2]string{"a", "1,2"} {
		t.Fatalf("%q %v", kv, err)
	}
	specs := []option{{name: "topic", arg: "x"}, {name: "list"}, {name: "if-exists"}, {name: "if-not-exists"}}
	p, err := parseOptions(specs, []string{"--top=a", "--list", "--topic", "b", "rest"})
	if err != nil || p.str("topic", "") != "b" || len(p.all("topic")) != 2 || !p.has("list") || p.args[0] != "rest" {
		t.Fatalf("%+v %v", p, err)
	}
	for args, want := range map[string]string{
		"--if":       "if is not a recognized option",
		"--nope":     "nope is not a recognized option",
		"--topic":    "Option topic requires an argument",
		"--list=yes": "Option list does not take an argument",
	} {
		if _, err := parseOptions(specs, strings.Fields(args)); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	if ToolName("/opt/bitnami/kafka/bin/kafka-topics.sh") != "kafka-topics" || ToolName("kafka-console-consumer") != "kafka-console-consumer" || ToolName("minikraft") != "" {
		t.Fatal("ToolName")
	}
}

func TestISODurationAndDateTime(t *testing.T) {
	d, err := parseISODuration("P1DT2H3M4.5S")
	if err != nil || d.String() != "26h3m4.5s" {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := parseISODuration("1h"); err == nil {
		t.Fatal("accepted 1h")
	}
	tm, err := parseKafkaDateTime("2024-01-02T03:04:05.000Z")
	if err != nil || tm.UnixMilli() != 1704164645000 {
		t.Fatalf("%v %v", tm, err)
	}
}
