package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedKafka0 is node kafka-0 of the seed lesson's three-node compose file, as cmd/minikraft turns
// its environment into properties (KAFKA_ENABLE_KRAFT and ALLOW_PLAINTEXT_LISTENER carry none).
var seedKafka0 = map[string]string{
	"process.roles":                  "broker,controller",
	"controller.listener.names":      "CONTROLLER",
	"node.id":                        "0",
	"controller.quorum.voters":       "0@kafka-0:9093,1@kafka-1:9093,2@kafka-2:9093",
	ClusterIDProp:                    "abcdefghijklmnopqrstuv",
	"listeners":                      "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094",
	"advertised.listeners":           "PLAINTEXT://kafka-0:9092,EXTERNAL://127.0.0.1:9094",
	"listener.security.protocol.map": "CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
	"log.dirs":                       "/bitnami/kafka/data",
}

func withHostname(t *testing.T, name string) {
	t.Helper()
	old := hostname
	hostname = func() (string, error) { return name, nil }
	t.Cleanup(func() { hostname = old })
}

func TestSeedComposeNode(t *testing.T) {
	b, unknown, err := FromProperties(seedKafka0)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 0 {
		t.Errorf("unknown = %v", unknown)
	}
	if b.NodeID != 0 || !reflect.DeepEqual(b.ProcessRoles, []string{"broker", "controller"}) || !b.IsBroker() || !b.IsController() {
		t.Errorf("node/roles: %d %v", b.NodeID, b.ProcessRoles)
	}
	if want := []Listener{{"PLAINTEXT", "", 9092}, {"CONTROLLER", "", 9093}, {"EXTERNAL", "", 9094}}; !reflect.DeepEqual(b.Listeners, want) {
		t.Errorf("listeners %+v", b.Listeners)
	}
	if want := []Listener{{"PLAINTEXT", "kafka-0", 9092}, {"EXTERNAL", "127.0.0.1", 9094}}; !reflect.DeepEqual(b.AdvertisedListeners, want) {
		t.Errorf("advertised %+v", b.AdvertisedListeners)
	}
	if want := []Voter{{0, "kafka-0", 9093}, {1, "kafka-1", 9093}, {2, "kafka-2", 9093}}; !reflect.DeepEqual(b.Voters, want) {
		t.Errorf("voters %+v", b.Voters)
	}
	if b.InterBrokerListenerName != "PLAINTEXT" || !reflect.DeepEqual(b.ControllerListenerNames, []string{"CONTROLLER"}) {
		t.Errorf("inter-broker %q controller %v", b.InterBrokerListenerName, b.ControllerListenerNames)
	}
	if l, ok := b.ControllerListener(); !ok || l.Port != 9093 {
		t.Errorf("controller listener %+v %v", l, ok)
	}
	if b.ClusterID != "abcdefghijklmnopqrstuv" {
		t.Errorf("cluster id %q", b.ClusterID)
	}
	// Props: the given properties less the cluster id, plus broker.id copied from node.id.
	if _, ok := b.Props[ClusterIDProp]; ok || len(b.Props) != len(seedKafka0) || b.Props["broker.id"] != "0" {
		t.Errorf("Props %v", b.Props)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"/bitnami/kafka/data"}) {
		t.Errorf("log dirs %v", b.LogDirs)
	}
	if p, ok := b.SecurityProtocol("EXTERNAL"); !ok || p != "PLAINTEXT" {
		t.Errorf("EXTERNAL protocol %q %v", p, ok)
	}
	// Kafka defaults everywhere else.
	if !b.AutoCreateTopics || !b.DeleteTopicEnable || b.NumPartitions != 1 || b.DefaultReplicationFactor != 1 ||
		b.MinInsyncReplicas != 1 || b.MessageMaxBytes != 1048588 || b.SocketRequestMaxBytes != 104857600 ||
		b.OffsetsTopicPartitions != 50 || b.OffsetsTopicReplicationFactor != 3 ||
		b.GroupInitialRebalanceDelay != 3*time.Second || b.GroupMinSessionTimeout != 6*time.Second ||
		b.GroupMaxSessionTimeout != 30*time.Minute || b.ReplicaLagTimeMax != 30*time.Second ||
		b.BrokerSessionTimeout != 9*time.Second || b.BrokerHeartbeatInterval != 2*time.Second ||
		b.LogRetentionCheckInterval != 5*time.Minute || b.OffsetsRetention != 7*24*time.Hour ||
		b.TransactionalIDExpiration != 7*24*time.Hour || b.ProducerIDExpiration != 24*time.Hour ||
		b.LeaderImbalanceCheckInterval != 5*time.Minute || !b.AutoLeaderRebalance || b.UncleanLeaderElection {
		t.Errorf("defaults: %+v", b)
	}
}

func TestSeedSingleNodeAdvertisedFromListeners(t *testing.T) {
	withHostname(t, "kafka-0")
	props := map[string]string{
		"listeners":                      "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094",
		"listener.security.protocol.map": "CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"controller.quorum.voters":       "0@kafka-0:9093",
	}
	b, _, err := FromProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{{"PLAINTEXT", "kafka-0", 9092}, {"EXTERNAL", "kafka-0", 9094}}
	if !reflect.DeepEqual(b.AdvertisedListeners, want) {
		t.Errorf("advertised %+v", b.AdvertisedListeners)
	}
	if b.Listeners[0].Host != "" {
		t.Error("filling advertised hosts changed listeners")
	}
}

func TestDefaultNoArguments(t *testing.T) {
	b := Default()
	if b.NodeID != 0 || !b.IsBroker() || !b.IsController() {
		t.Errorf("roles %v node %d", b.ProcessRoles, b.NodeID)
	}
	if want := []Listener{{"PLAINTEXT", "127.0.0.1", 9092}, {"CONTROLLER", "127.0.0.1", 9093}}; !reflect.DeepEqual(b.Listeners, want) {
		t.Errorf("listeners %+v", b.Listeners)
	}
	if want := []Listener{{"PLAINTEXT", "127.0.0.1", 9092}}; !reflect.DeepEqual(b.AdvertisedListeners, want) {
		t.Errorf("advertised %+v", b.AdvertisedListeners)
	}
	if want := []Voter{{0, "127.0.0.1", 9093}}; !reflect.DeepEqual(b.Voters, want) {
		t.Errorf("voters %+v", b.Voters)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"./minikraft-data"}) || !b.AutoCreateTopics || b.NumPartitions != 1 {
		t.Errorf("dirs %v auto %v partitions %d", b.LogDirs, b.AutoCreateTopics, b.NumPartitions)
	}
	if b.InterBrokerListenerName != "PLAINTEXT" || b.ClusterID != "" || len(b.Props) != 0 {
		t.Errorf("inter-broker %q cluster %q props %v", b.InterBrokerListenerName, b.ClusterID, b.Props)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if tc := b.TopicDefaults(); !reflect.DeepEqual(tc, DefaultTopic()) {
		t.Errorf("topic defaults %+v", tc)
	}
}

func TestFromPropertiesDerived(t *testing.T) {
	withHostname(t, "myhost")
	for _, tc := range []struct {
		name  string
		props map[string]string
		check func(t *testing.T, b Broker)
	}{
		{"voters derived from a bind-all controller listener",
			map[string]string{"node.id": "3", "listeners": "PLAINTEXT://:19092,CONTROLLER://0.0.0.0:19093"},
			func(t *testing.T, b Broker) {
				if want := []Voter{{3, "127.0.0.1", 19093}}; !reflect.DeepEqual(b.Voters, want) {
					t.Errorf("voters %+v", b.Voters)
				}
				if b.AdvertisedListeners[0].Host != "myhost" {
					t.Errorf("advertised %+v", b.AdvertisedListeners)
				}
			}},
		{"log.dirs beats log.dir", map[string]string{"log.dir": "/a", "log.dirs": "/b, /c"},
			func(t *testing.T, b Broker) {
				if !reflect.DeepEqual(b.LogDirs, []string{"/b", "/c"}) {
					t.Errorf("dirs %v", b.LogDirs)
				}
			}},
		{"log.dir alone", map[string]string{"log.dir": "/a"},
			func(t *testing.T, b Broker) {
				if !reflect.DeepEqual(b.LogDirs, []string{"/a"}) {
					t.Errorf("dirs %v", b.LogDirs)
				}
			}},
		{"broker.id sets node.id", map[string]string{"broker.id": "0"},
			func(t *testing.T, b Broker) {
				if b.NodeID != 0 {
					t.Errorf("node %d", b.NodeID)
				}
			}},
		{"inter-broker falls back to the first advertised listener",
			map[string]string{"listeners": "INTERNAL://:9092,CONTROLLER://:9093", "listener.security.protocol.map": "INTERNAL:PLAINTEXT"},
			func(t *testing.T, b Broker) {
				if b.InterBrokerListenerName != "INTERNAL" {
					t.Errorf("inter-broker %q", b.InterBrokerListenerName)
				}
			}},
		{"broker-only node", map[string]string{"process.roles": "broker", "node.id": "4",
			"listeners": "PLAINTEXT://:9092", "controller.quorum.voters": "1@c1:9093"},
			func(t *testing.T, b Broker) {
				if b.IsController() || len(b.Voters) != 1 {
					t.Errorf("%+v", b)
				}
				if _, ok := b.ControllerListener(); ok {
					t.Error("a broker-only node has no controller listener of its own")
				}
			}},
		{"controller-only node", map[string]string{"process.roles": "controller", "listeners": "CONTROLLER://:9093"},
			func(t *testing.T, b Broker) {
				if b.IsBroker() || len(b.AdvertisedListeners) != 0 || len(b.Voters) != 1 {
					t.Errorf("%+v", b)
				}
			}},
		{"numbers and durations", map[string]string{"num.partitions": "3", "default.replication.factor": "3",
			"group.initial.rebalance.delay.ms": "0", "offsets.topic.replication.factor": "1", "min.insync.replicas": "2"},
			func(t *testing.T, b Broker) {
				if b.NumPartitions != 3 || b.DefaultReplicationFactor != 3 || b.GroupInitialRebalanceDelay != 0 ||
					b.OffsetsTopicReplicationFactor != 1 || b.MinInsyncReplicas != 2 {
					t.Errorf("%+v", b)
				}
			}},
		{"log cleaner and internal topics", map[string]string{"log.cleaner.enable": "FALSE", "log.cleaner.backoff.ms": "250",
			"transaction.state.log.segment.bytes": "1048576"},
			func(t *testing.T, b Broker) {
				if b.LogCleanerEnable || b.LogCleanerBackoff != 250*time.Millisecond || b.TransactionStateLogSegmentBytes != 1<<20 {
					t.Errorf("cleaner %v every %v, transaction log segments %d", b.LogCleanerEnable, b.LogCleanerBackoff, b.TransactionStateLogSegmentBytes)
				}
			}},
		{"defaults of the settings the broker acts on", nil,
			func(t *testing.T, b Broker) {
				if !b.LogCleanerEnable || b.LogCleanerBackoff != 15*time.Second || b.ReplicaFetchWaitMax != 500*time.Millisecond ||
					b.ReplicaFetchBackoff != time.Second || b.OffsetsCommitTimeout != 5*time.Second ||
					b.OffsetsRetentionCheckInterval != 10*time.Minute || b.OffsetMetadataMaxBytes != 4096 ||
					b.TransactionStateLogSegmentBytes != 104857600 {
					t.Errorf("%+v", b)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _, err := FromProperties(tc.props)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
}

// TestNodeIDBrokerIDSynonyms: whichever of node.id and broker.id is given, DescribeConfigs shows
// both with its value as STATIC_BROKER_CONFIG (Kafka's KafkaConfig.populateSynonyms), not the
// other one's default; the caller's map is left alone.
func TestNodeIDBrokerIDSynonyms(t *testing.T) {
	for _, given := range []string{"node.id", "broker.id"} {
		props := map[string]string{given: "3"}
		b, _, err := FromProperties(props)
		if err != nil {
			t.Fatal(err)
		}
		if b.NodeID != 3 || len(props) != 1 {
			t.Errorf("%s=3: node %d, props %v", given, b.NodeID, props)
		}
		entries := ResolveBroker(nil, nil, b.Props)
		for _, name := range []string{"node.id", "broker.id"} {
			if e := find(t, entries, name); val(e.Value) != "3" || e.Source != SourceStaticBroker {
				t.Errorf("%s=3: %s = %s (%v), want 3 (STATIC_BROKER_CONFIG)", given, name, val(e.Value), e.Source)
			}
		}
	}
}

func TestFromPropertiesUnknown(t *testing.T) {
	b, unknown, err := FromProperties(map[string]string{
		"max.request.size": "1048576", "zookeeper.connect": "zk:2181", "num.io.threads": "16", "retention.ms": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"max.request.size", "retention.ms", "zookeeper.connect"}; !reflect.DeepEqual(unknown, want) {
		t.Errorf("unknown %v", unknown)
	}
	if b.Props["max.request.size"] != "1048576" {
		t.Error("unknown properties stay in Props")
	}
}

func TestFromPropertiesErrors(t *testing.T) {
	withHostname(t, "h")
	for _, tc := range []struct {
		props    map[string]string
		want     string
		sentinel error
	}{
		{map[string]string{"num.partitions": "x"}, "config: Invalid value x for configuration num.partitions: Not a number of type INT", ErrInvalidConfig},
		{map[string]string{"num.partitions": "0"}, "config: Invalid value 0 for configuration num.partitions: Value must be at least 1", ErrInvalidConfig},
		{map[string]string{"process.roles": "broker,zookeeper"}, "config: Invalid value zookeeper for configuration process.roles: String must be one of: broker, controller", ErrInvalidConfig},
		{map[string]string{"auto.create.topics.enable": "yes"}, "config: Invalid value yes for configuration auto.create.topics.enable: Expected value to be either true or false", ErrInvalidConfig},
		{map[string]string{"process.roles": "broker,broker"}, "config: process.roles: duplicate role names", ErrInvalidBroker},
		{map[string]string{"process.roles": ""}, "config: process.roles: must contain broker, controller or both", ErrInvalidBroker},
		{map[string]string{"node.id": "-1"}, "config: node.id: must be set to a value >= 0", ErrInvalidBroker},
		{map[string]string{"node.id": "1", "broker.id": "2"}, "config: node.id: you must set `node.id` to the same value as `broker.id`", ErrInvalidBroker},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094", "listener.security.protocol.map": "CONTROLLER:PLAINTEXT"},
			`config: listeners: listener "EXTERNAL" has no entry in listener.security.protocol.map`, ErrInvalidBroker},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094"},
			`config: listeners: listener "EXTERNAL" has no entry in listener.security.protocol.map`, ErrInvalidBroker},
		{map[string]string{"security.inter.broker.protocol": "SASL_PLAINTEXT"},
			`config: inter.broker.listener.name: "SASL_PLAINTEXT" must be a listener name defined in advertised.listeners; the valid options are PLAINTEXT`, ErrInvalidBroker},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9092"}, `config: listeners: listeners "PLAINTEXT" and "CONTROLLER" use the same port 9092`, ErrInvalidBroker},
		{map[string]string{"listeners": "PLAINTEXT://:9092"}, "config: controller.listener.names: must contain at least one value appearing in the 'listeners' configuration", ErrInvalidBroker},
		{map[string]string{"controller.quorum.voters": "1@a:9093"}, "config: controller.quorum.voters: if process.roles contains the 'controller' role, the node id 0 must be included in the set of voters (ids 1)", ErrInvalidBroker},
		{map[string]string{"controller.quorum.voters": "0@a:9093,0@b:9093"}, "config: controller.quorum.voters: voter id 0 appears more than once", ErrInvalidBroker},
		{map[string]string{"controller.quorum.voters": "0-a:9093"}, "config: controller.quorum.voters: cannot parse", ErrInvalidBroker},
		{map[string]string{"process.roles": "broker", "listeners": "PLAINTEXT://:9092"}, "config: controller.quorum.voters: must contain a parseable set of voters", ErrInvalidBroker},
		{map[string]string{"process.roles": "broker", "controller.quorum.voters": "0@c:9093", "listeners": "PLAINTEXT://:9092"},
			"config: controller.quorum.voters: if process.roles contains just the 'broker' role, the node id 0 must not be included", ErrInvalidBroker},
		{map[string]string{"process.roles": "broker", "controller.quorum.voters": "1@c:9093"},
			"config: controller.listener.names: must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role", ErrInvalidBroker},
		{map[string]string{"process.roles": "controller"}, "config: listeners: must only contain KRaft controller listeners", ErrInvalidBroker},
		{map[string]string{"advertised.listeners": "PLAINTEXT://h:9092,CONTROLLER://h:9093"}, "config: advertised.listeners: must not contain KRaft controller listeners", ErrInvalidBroker},
		{map[string]string{"advertised.listeners": "OTHER://h:9092"}, "config: advertised.listeners: listener OTHER is not in listeners", ErrInvalidBroker},
		{map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, "config: advertised.listeners: listener PLAINTEXT cannot use the nonroutable meta-address 0.0.0.0", ErrInvalidBroker},
		{map[string]string{"listeners": "CONTROLLER://:9093"}, "config: advertised.listeners: there must be at least one advertised listener", ErrInvalidBroker},
		{map[string]string{"inter.broker.listener.name": "EXTERNAL"}, `config: inter.broker.listener.name: "EXTERNAL" must be a listener name defined in advertised.listeners; the valid options are PLAINTEXT`, ErrInvalidBroker},
		{map[string]string{"log.dirs": ""}, "config: log.dirs: at least one log directory must be defined via log.dirs or log.dir", ErrInvalidBroker},
		{map[string]string{"replica.fetch.wait.max.ms": "30001"}, "config: replica.fetch.wait.max.ms: should always be less than or equal to replica.lag.time.max.ms", ErrInvalidBroker},
		{map[string]string{"default.replication.factor": "0"}, "config: default.replication.factor: Invalid value 0 for configuration default.replication.factor: Value must be at least 1", ErrInvalidBroker},
	} {
		_, _, err := FromProperties(tc.props)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, tc.sentinel) {
			t.Errorf("FromProperties(%v):\n got %v\nwant %s (wrapping %v)", tc.props, err, tc.want, tc.sentinel)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

func TestValidateHandBuilt(t *testing.T) {
	b := Default()
	b.Listeners = append(b.Listeners, Listener{Name: "EXTERNAL", Host: "", Port: 0})
	b.SecurityProtocolMap = map[string]string{"EXTERNAL": "PLAINTEXT"}
	b.AdvertisedListeners = append(b.AdvertisedListeners, Listener{Name: "EXTERNAL", Host: "127.0.0.1", Port: 0})
	if err := b.Validate(); err != nil {
		t.Fatalf("port 0 listeners are fine: %v", err)
	}
	b.GroupMaxSize = 0
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "group.max.size") {
		t.Fatalf("got %v", err)
	}
}

// TestSecureListeners: listeners mapped to SSL and SASL_* are accepted (their keystores and JAAS
// are broker/security's business), and security.inter.broker.protocol picks the listener named
// after the protocol, as in Kafka.
func TestSecureListeners(t *testing.T) {
	b, _, err := FromProperties(map[string]string{
		"listeners":                      "SSL://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093",
		"security.inter.broker.protocol": "SSL",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.InterBrokerListenerName != "SSL" {
		t.Fatalf("inter-broker listener %q", b.InterBrokerListenerName)
	}
	for _, l := range []string{"SSL", "SASL_SSL"} {
		if p, _ := b.SecurityProtocol(l); p != l {
			t.Fatalf("%s: protocol %q", l, p)
		}
	}
	b, _, err = FromProperties(map[string]string{
		"listeners":                      "EXTERNAL://127.0.0.1:9092,INTERNAL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093",
		"listener.security.protocol.map": "EXTERNAL:SASL_PLAINTEXT,INTERNAL:SSL,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":     "INTERNAL",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := b.SecurityProtocol("EXTERNAL"); p != "SASL_PLAINTEXT" {
		t.Fatalf("EXTERNAL: %q", p)
	}
}

// TestAuthorizerProps: the authorizer's three properties, the ZooKeeper-era class name as an
// alias, and a class minikraft does not have refused at start.
func TestAuthorizerProps(t *testing.T) {
	b, _, err := FromProperties(map[string]string{
		"authorizer.class.name":          AclAuthorizer,
		"super.users":                    " User:admin ;User:ops;",
		"allow.everyone.if.no.acl.found": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Authorizer != AclAuthorizer || !reflect.DeepEqual(b.SuperUsers, []string{"User:admin", "User:ops"}) || !b.AllowEveryoneIfNoACL {
		t.Errorf("%q %q %v", b.Authorizer, b.SuperUsers, b.AllowEveryoneIfNoACL)
	}
	if d := Default(); d.Authorizer != "" || d.SuperUsers != nil || d.AllowEveryoneIfNoACL {
		t.Errorf("defaults: %q %q %v", d.Authorizer, d.SuperUsers, d.AllowEveryoneIfNoACL)
	}
	if _, _, err := FromProperties(map[string]string{"authorizer.class.name": "com.example.Mine"}); err == nil {
		t.Error("an unknown authorizer class was accepted")
	}
}
