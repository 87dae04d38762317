package main

import (
	"errors"
	"flag"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/minikraft/minikraft/broker/config"
)

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := m[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

func TestParseProperties(t *testing.T) {
	text := "# comment\r\n" +
		"! also a comment\n" +
		"   \n" +
		"a=1\n" +
		"b = 2 \n" +
		"c: 3\n" +
		"d 4\n" +
		"e  =  five\n" +
		"f\\=g=6\n" +
		"multi = one, \\\n" +
		"        two, \\\n" +
		"   three\n" +
		"esc=tab\\there\\u0041\\\\\n" +
		"empty=\n" +
		"onlykey\n" +
		"  indented.key=7\n" +
		"a=last wins\n" +
		"url=PLAINTEXT://:9092\n" +
		"eof=x\\"
	got, err := parseProperties(text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a": "last wins", "b": "2", "c": "3", "d": "4", "e": "five", "f=g": "6",
		"multi": "one, two, three", "esc": "tab\there" + "A\\", "empty": "", "onlykey": "",
		"indented.key": "7", "url": "PLAINTEXT://:9092", "eof": "x",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if _, err := parseProperties("x=\\u12\n"); err == nil || !strings.Contains(err.Error(), `line 1: malformed \uxxxx encoding`) {
		t.Errorf("bad escape: %v", err)
	}
	if _, err := parseProperties("\n\nx=\\uZZZZ"); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad escape: %v", err)
	}
}

func TestEnvMapping(t *testing.T) {
	props, ignored := fromEnv([]string{
		"KAFKA_CFG_LOG_RETENTION_HOURS=24",
		"KAFKA_CFG_NODE_ID=0",
		"KAFKA_CFG_MAX_REQUEST_SIZE=1048576",
		"KAFKA_CFG_=nothing",
		"KAFKA_KRAFT_CLUSTER_ID=abcdefghijklmnopqrstuv",
		"KAFKA_CFG_CLUSTER_ID=loses",
		"KAFKA_ENABLE_KRAFT=yes",
		"ALLOW_PLAINTEXT_LISTENER=yes",
		"KAFKA_HEAP_OPTS=-Xmx1G",
		"KAFKA_OPTS=-Dx=y",
		"JAVA_HOME=/opt/java",
		"JMX_PORT=9999",
		"KAFKA_HEAP_OPTS=-Xmx2G",
		"PATH=/bin",
		"HOSTNAME=kafka-0",
		"broken",
	})
	want := map[string]string{
		"log.retention.hours": "24", "node.id": "0", "max.request.size": "1048576",
		clusterIDProp: "abcdefghijklmnopqrstuv",
	}
	if !reflect.DeepEqual(props, want) {
		t.Errorf("props %v", props)
	}
	if want := []string{"JAVA_HOME", "JMX_PORT", "KAFKA_CFG_", "KAFKA_HEAP_OPTS", "KAFKA_OPTS"}; !reflect.DeepEqual(ignored, want) {
		t.Errorf("ignored %v", ignored)
	}
}

func TestPrecedence(t *testing.T) {
	file := "node.id=1\nnum.partitions=1\nlog.dirs=/file\nlog.retention.hours=1\nbroker.rack=file\n"
	env := []string{"KAFKA_CFG_NODE_ID=2", "KAFKA_CFG_NUM_PARTITIONS=2", "KAFKA_CFG_LOG_DIRS=/env", "KAFKA_KRAFT_CLUSTER_ID=env-id"}
	args := []string{"--config-file", "server.properties", "--node-id", "3", "--config", "num.partitions=3",
		"--data-dir", "/flag", "--cluster-id", "flag-id", "--config", "node.id=4"}
	props, _, level, err := loadProperties(args, env, files(map[string]string{"server.properties": file}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"node.id":             "4", // flags apply in command-line order
		"num.partitions":      "3", // flag > env > file
		"log.dirs":            "/flag",
		"log.retention.hours": "1",    // file only
		"broker.rack":         "file", // file only
		clusterIDProp:         "flag-id",
	}
	if !reflect.DeepEqual(props, want) || level != "info" {
		t.Errorf("props %v level %q", props, level)
	}

	// Without flags, env beats the file.
	props, _, _, err = loadProperties([]string{"--config-file=server.properties"}, env, files(map[string]string{"server.properties": file}))
	if err != nil {
		t.Fatal(err)
	}
	if props["node.id"] != "2" || props["log.dirs"] != "/env" || props[clusterIDProp] != "env-id" || props["broker.rack"] != "file" {
		t.Errorf("props %v", props)
	}
}

func TestFlags(t *testing.T) {
	props, ignored, level, err := loadProperties([]string{
		"--voters", "0@a:9093", "--listeners", "PLAINTEXT://:9092,CONTROLLER://:9093",
		"--advertised-listeners", "PLAINTEXT://a:9092", "--listener-security-protocol-map", "CONTROLLER:PLAINTEXT",
		"--controller-listener-names", "CONTROLLER", "--process-roles", "broker,controller", "--log-level", "DEBUG",
	}, nil, files(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"controller.quorum.voters": "0@a:9093", "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
		"advertised.listeners": "PLAINTEXT://a:9092", "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
		"controller.listener.names": "CONTROLLER", "process.roles": "broker,controller",
	}
	if !reflect.DeepEqual(props, want) || level != "debug" || len(ignored) != 0 {
		t.Errorf("props %v level %q ignored %v", props, level, ignored)
	}

	// kafka-server-start.sh style: the file as an argument, then --override.
	props, _, _, err = loadProperties([]string{"server.properties", "--override", "num.partitions=5", "--override", "x.y= z "},
		nil, files(map[string]string{"server.properties": "num.partitions=2\na=b"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"num.partitions": "5", "x.y": " z ", "a": "b"}; !reflect.DeepEqual(props, want) {
		t.Errorf("props %v", props)
	}

	// No arguments: no properties, config.FromProperties applies the defaults.
	props, ignored, level, err = loadProperties(nil, nil, files(nil))
	if err != nil || len(props) != 0 || len(ignored) != 0 || level != "info" {
		t.Errorf("%v %v %q %v", props, ignored, level, err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "novalue"}, `invalid value "novalue" for flag -config: want key=value, got "novalue"`},
		{[]string{"--config", "=v"}, `want key=value`},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"--log-level", "trace"}, `--log-level "trace": want one of debug, info, warn, error`},
		{[]string{"a.properties", "b.properties"}, `unexpected arguments ["a.properties" "b.properties"]`},
		{[]string{"--config-file", "a.properties", "b.properties"}, "both --config-file a.properties and the argument b.properties"},
		{[]string{"--config-file", "missing.properties"}, "config file: open missing.properties: file does not exist"},
		{[]string{"--config-file", "bad.properties"}, `config file bad.properties: line 1: malformed \uxxxx encoding`},
	} {
		_, _, _, err := loadProperties(tc.args, nil, files(map[string]string{"bad.properties": `k=\u00`}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.args, err, tc.want)
		}
	}
	_, _, _, err := loadProperties([]string{"--help"}, nil, files(nil))
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), "Usage: minikraft") || !strings.Contains(err.Error(), "-voters") {
		t.Errorf("help: %v", err)
	}
}

// TestSeedCompose feeds node kafka-0 of the seed lesson's three-node compose file through the
// whole path: environment → properties → config.Broker.
func TestSeedCompose(t *testing.T) {
	env := []string{
		"KAFKA_ENABLE_KRAFT=yes",
		"KAFKA_CFG_PROCESS_ROLES=broker,controller",
		"KAFKA_CFG_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"ALLOW_PLAINTEXT_LISTENER=yes",
		"KAFKA_CFG_NODE_ID=0",
		"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=0@kafka-0:9093,1@kafka-1:9093,2@kafka-2:9093",
		"KAFKA_KRAFT_CLUSTER_ID=abcdefghijklmnopqrstuv",
		"KAFKA_CFG_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094",
		"KAFKA_CFG_ADVERTISED_LISTENERS=PLAINTEXT://kafka-0:9092,EXTERNAL://127.0.0.1:9094",
		"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"HOSTNAME=kafka-0",
	}
	// The image's own properties file sets the data directory, as bitnami's does.
	image := map[string]string{"/etc/minikraft/server.properties": "log.dirs=/bitnami/kafka/data\n"}
	props, ignored, _, err := loadProperties([]string{"/etc/minikraft/server.properties"}, env, files(image))
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != 0 {
		t.Errorf("ignored %v", ignored)
	}
	b, unknown, err := config.FromProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 0 {
		t.Errorf("unknown %v", unknown)
	}
	if b.NodeID != 0 || b.ClusterID != "abcdefghijklmnopqrstuv" || !b.IsBroker() || !b.IsController() ||
		len(b.Voters) != 3 || b.Voters[1] != (config.Voter{ID: 1, Host: "kafka-1", Port: 9093}) ||
		len(b.Listeners) != 3 || b.InterBrokerListenerName != "PLAINTEXT" ||
		!reflect.DeepEqual(b.LogDirs, []string{"/bitnami/kafka/data"}) {
		t.Errorf("%+v", b)
	}
	want := []config.Listener{{Name: "PLAINTEXT", Host: "kafka-0", Port: 9092}, {Name: "EXTERNAL", Host: "127.0.0.1", Port: 9094}}
	if !reflect.DeepEqual(b.AdvertisedListeners, want) {
		t.Errorf("advertised %+v", b.AdvertisedListeners)
	}
}

func TestHealthcheckAddrFromEnvironment(t *testing.T) {
	cases := []struct {
		env     []string
		want    string
		wantTLS bool
	}{
		{nil, "127.0.0.1:9092", false},
		{[]string{"KAFKA_CFG_LISTENERS=PLAINTEXT://:9192,CONTROLLER://:9093,EXTERNAL://:9094", "KAFKA_CFG_NODE_ID=0",
			"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=0@kafka-0:9093"}, "127.0.0.1:9192", false},
		// A TLS listener is probed only when there is no other: ApiVersions needs no SASL login.
		{[]string{"KAFKA_CFG_LISTENERS=SECURE://:9192,CONTROLLER://:9093,INSIDE://:9094", "KAFKA_CFG_NODE_ID=0",
			"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,SECURE:SASL_SSL,INSIDE:SASL_PLAINTEXT",
			"KAFKA_CFG_INTER_BROKER_LISTENER_NAME=INSIDE",
			"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=0@kafka-0:9093"}, "127.0.0.1:9094", false},
		{[]string{"KAFKA_CFG_LISTENERS=SECURE://:9192,CONTROLLER://:9093", "KAFKA_CFG_NODE_ID=0",
			"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,SECURE:SSL",
			"KAFKA_CFG_INTER_BROKER_LISTENER_NAME=SECURE",
			"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=0@kafka-0:9093"}, "127.0.0.1:9192", true},
	}
	for _, c := range cases {
		got, tc := localClientAddr(c.env)
		if got != c.want || (tc != nil) != c.wantTLS {
			t.Errorf("env %v: %s (TLS %v), want %s (TLS %v)", c.env, got, tc != nil, c.want, c.wantTLS)
		}
	}
}
