package main

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/minikraft/minikraft/broker/config"
)

// imageProps is the properties file the container image ships as
// /etc/minikraft/server.properties (scripts/build-image.sh copies it); the image's entrypoint is
// `minikraft --config-file /etc/minikraft/server.properties`.
const imageProps = "../../scripts/image/server.properties"

// loadImage runs the image's entrypoint argument list through the real property loader with the
// shipped file, so these tests break if the file and the bitnami mapping stop fitting together.
func loadImage(t *testing.T, env []string, extra ...string) (config.Broker, []string) {
	t.Helper()
	data, err := os.ReadFile(imageProps)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--config-file", "/etc/minikraft/server.properties"}, extra...)
	props, ignored, _, err := loadProperties(args, env, files(map[string]string{"/etc/minikraft/server.properties": string(data)}))
	if err != nil {
		t.Fatal(err)
	}
	// The binary's own properties (the HTTP listener's) go before the broker's are read, as in run.
	if _, err := takeNodeProps(props); err != nil {
		t.Fatal(err)
	}
	b, unknown, err := config.FromProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 0 {
		t.Errorf("the image's defaults hold unknown properties %v", unknown)
	}
	return b, ignored
}

// TestImageDefaults: `docker run minikraft:dev` with no environment is a one-node cluster that
// listens on every interface (127.0.0.1 would be unreachable through a published port) and keeps
// its data where bitnami/kafka does.
func TestImageDefaults(t *testing.T) {
	b, _ := loadImage(t, nil)
	if !reflect.DeepEqual(b.LogDirs, []string{"/bitnami/kafka/data"}) {
		t.Errorf("log dirs %v", b.LogDirs)
	}
	for _, l := range b.Listeners {
		if l.Host != "" {
			t.Errorf("listener %s binds %q, want all interfaces", l.Name, l.Host)
		}
	}
	// The quorum defaults to this node on its controller port, as a reachable address.
	if len(b.Voters) != 1 || b.Voters[0].Port != 9093 || b.Voters[0].Host == "" {
		t.Errorf("voters %+v", b.Voters)
	}
}

// TestImageSeedEnvironment: node kafka-1 of the seed's three-node compose file, plus the bitnami
// variables people add, against the shipped file.
func TestImageSeedEnvironment(t *testing.T) {
	env := []string{
		"KAFKA_ENABLE_KRAFT=yes",
		"ALLOW_PLAINTEXT_LISTENER=yes",
		"KAFKA_CFG_NODE_ID=1",
		"KAFKA_CFG_PROCESS_ROLES=broker,controller",
		"KAFKA_CFG_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=0@kafka-0:9093,1@kafka-1:9093,2@kafka-2:9093",
		"KAFKA_KRAFT_CLUSTER_ID=abcdefghijklmnopqrstuv",
		"KAFKA_CFG_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9095",
		"KAFKA_CFG_ADVERTISED_LISTENERS=PLAINTEXT://kafka-1:9092,EXTERNAL://127.0.0.1:9095",
		"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_CFG_AUTO_CREATE_TOPICS_ENABLE=false",
		"KAFKA_CFG_NUM_PARTITIONS=3",
		"KAFKA_CFG_DEFAULT_REPLICATION_FACTOR=3",
		"KAFKA_CFG_OFFSETS_TOPIC_REPLICATION_FACTOR=3",
		"KAFKA_HEAP_OPTS=-Xmx1024m -Xms1024m",
		"BITNAMI_DEBUG=true", // bitnami's own switch: not ours to read, and not worth a log line
		"HOSTNAME=kafka-1",
	}
	b, ignored := loadImage(t, env)
	if b.NodeID != 1 || b.ClusterID != "abcdefghijklmnopqrstuv" || len(b.Voters) != 3 ||
		b.AutoCreateTopics || b.NumPartitions != 3 || b.DefaultReplicationFactor != 3 ||
		b.OffsetsTopicReplicationFactor != 3 {
		t.Errorf("%+v", b)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"/bitnami/kafka/data"}) {
		t.Errorf("log dirs %v, want the image's /bitnami/kafka/data", b.LogDirs)
	}
	want := []config.Listener{{Name: "PLAINTEXT", Port: 9092}, {Name: "CONTROLLER", Port: 9093}, {Name: "EXTERNAL", Port: 9095}}
	if !reflect.DeepEqual(b.Listeners, want) {
		t.Errorf("listeners %+v, want %+v (empty host: every interface)", b.Listeners, want)
	}
	if !slices.Equal(ignored, []string{"KAFKA_HEAP_OPTS"}) {
		t.Errorf("ignored %v: KAFKA_HEAP_OPTS must be reported once so run logs it", ignored)
	}
}

// TestImageOverrides: the environment beats the image's file (KAFKA_CFG_LOG_DIRS moves the data,
// KAFKA_CFG_LISTENERS replaces the listeners), and `docker run` arguments beat both.
func TestImageOverrides(t *testing.T) {
	env := []string{"KAFKA_CFG_LOG_DIRS=/data/a,/data/b", "KAFKA_CFG_LISTENERS=PLAINTEXT://:19092,CONTROLLER://:19093"}
	b, _ := loadImage(t, env)
	if !reflect.DeepEqual(b.LogDirs, []string{"/data/a", "/data/b"}) {
		t.Errorf("log dirs %v", b.LogDirs)
	}
	if len(b.Listeners) != 2 || b.Listeners[0].Port != 19092 || b.Listeners[1].Port != 19093 {
		t.Errorf("listeners %+v", b.Listeners)
	}
	b, _ = loadImage(t, env, "--data-dir", "/flag", "--node-id", "7")
	if !reflect.DeepEqual(b.LogDirs, []string{"/flag"}) || b.NodeID != 7 {
		t.Errorf("log dirs %v node %d", b.LogDirs, b.NodeID)
	}
}
