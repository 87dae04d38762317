package config

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClusterIDProp is the property that carries the cluster id into FromProperties. Kafka has no
// such property (its cluster id lives in meta.properties, written by kafka-storage.sh format);
// cmd/minikraft sets it from --cluster-id or KAFKA_KRAFT_CLUSTER_ID, as bitnami's image feeds
// KAFKA_KRAFT_CLUSTER_ID to the format step. FromProperties moves it into Broker.ClusterID and
// keeps it out of Props, so DescribeConfigs does not show it.
const ClusterIDProp = "cluster.id"

// ScramBootstrapProp carries the SCRAM credentials a node creates when the metadata has none for
// a user and mechanism: kafka-storage format's --add-scram arguments, separated by spaces
// ("SCRAM-SHA-256=[name=alice,password=alice-secret] SCRAM-SHA-512=[...]"). Kafka has no such
// property (its credentials go into the bootstrap metadata when the storage is formatted);
// cmd/minikraft sets it from bitnami's KAFKA_CLIENT_USERS and KAFKA_CLIENT_PASSWORDS. It stays in
// Props (broker/security parses it) but is not a known config, so DescribeConfigs never shows it.
const ScramBootstrapProp = "minikraft.scram.bootstrap"

// TransactionVersionProp sets the finalized level of the transaction.version feature (0, 1 or 2;
// default 2, Kafka 4.0's level for a new cluster), which ApiVersions advertises: at 2 clients use
// transaction version 2 (KIP-890 part 2: Produce v12 and TxnOffsetCommit v5 add their partitions
// to the transaction themselves, EndTxn v5 bumps the epoch); below, they add partitions with
// AddPartitionsToTxn and AddOffsetsToTxn; from 1 on, __transaction_state records are written as
// value v1. Kafka has no such property: the level is chosen when the storage is formatted
// (kafka-storage format --feature transaction.version=1) and changed with kafka-features
// upgrade/downgrade, which minikraft does not have. Like ClusterIDProp it is kept out of Props,
// so DescribeConfigs does not show it.
const TransactionVersionProp = "minikraft.transaction.version"

// DefaultTransactionVersion is TransactionVersionProp's default.
const DefaultTransactionVersion = 2

// hostname names this machine for advertised listeners without a host. Kafka uses the canonical
// host name (InetAddress.getLocalHost.getCanonicalHostName); minikraft uses os.Hostname, which in
// a container is the container's name on its network, as the seed's compose setup expects.
var hostname = os.Hostname

// Broker is a node's configuration: the typed view of its static properties. Durations are
// converted from Kafka's units (ms, minutes, seconds); counts and sizes are int (ids and ports
// are int32, their width on the wire).
type Broker struct {
	NodeID                  int32
	ProcessRoles            []string          // "broker", "controller", or both, in the given order
	Listeners               []Listener        // listeners
	AdvertisedListeners     []Listener        // advertised.listeners, or listeners minus the controller ones; hosts filled in
	SecurityProtocolMap     map[string]string // listener.security.protocol.map as set; nil = not set (Kafka's default map)
	ControllerListenerNames []string          // controller.listener.names, upper-cased
	InterBrokerListenerName string            // inter.broker.listener.name, or its default
	Voters                  []Voter           // controller.quorum.voters, or <node.id>@<controller listener> for a lone controller
	LogDirs                 []string          // log.dirs, else log.dir
	MetadataLogDir          string            // metadata.log.dir; "" = the first log dir
	Rack                    string            // broker.rack
	ClusterID               string            // ClusterIDProp; "" = take it from meta.properties or make one
	TransactionVersion      int16             // TransactionVersionProp (FromProperties sets the default)

	AutoCreateTopics             bool          // auto.create.topics.enable
	DeleteTopicEnable            bool          // delete.topic.enable
	NumPartitions                int           // num.partitions
	DefaultReplicationFactor     int           // default.replication.factor
	MinInsyncReplicas            int           // min.insync.replicas (the broker default of the topic config)
	MessageMaxBytes              int           // message.max.bytes (the broker default of max.message.bytes)
	SocketRequestMaxBytes        int           // socket.request.max.bytes
	FetchMaxBytes                int           // fetch.max.bytes
	FetchSessionCacheSlots       int           // max.incremental.fetch.session.cache.slots
	LogRetentionCheckInterval    time.Duration // log.retention.check.interval.ms
	LogCleanerEnable             bool          // log.cleaner.enable
	LogCleanerBackoff            time.Duration // log.cleaner.backoff.ms
	ReplicaLagTimeMax            time.Duration // replica.lag.time.max.ms
	ReplicaFetchMaxBytes         int           // replica.fetch.max.bytes
	ReplicaFetchResponseMaxBytes int           // replica.fetch.response.max.bytes
	ReplicaFetchWaitMax          time.Duration // replica.fetch.wait.max.ms
	ReplicaFetchBackoff          time.Duration // replica.fetch.backoff.ms
	UncleanLeaderElection        bool          // unclean.leader.election.enable
	AutoLeaderRebalance          bool          // auto.leader.rebalance.enable
	LeaderImbalanceCheckInterval time.Duration // leader.imbalance.check.interval.seconds

	OffsetsTopicPartitions        int           // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int           // offsets.topic.replication.factor
	OffsetsTopicSegmentBytes      int           // offsets.topic.segment.bytes
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	OffsetsCommitTimeout          time.Duration // offsets.commit.timeout.ms
	OffsetMetadataMaxBytes        int           // offset.metadata.max.bytes
	GroupInitialRebalanceDelay    time.Duration // group.initial.rebalance.delay.ms
	GroupMinSessionTimeout        time.Duration // group.min.session.timeout.ms
	GroupMaxSessionTimeout        time.Duration // group.max.session.timeout.ms
	GroupMaxSize                  int           // group.max.size

	TransactionalIDExpiration            time.Duration // transactional.id.expiration.ms
	TransactionMaxTimeout                time.Duration // transaction.max.timeout.ms
	TransactionPartitionVerification     bool          // transaction.partition.verification.enable
	TransactionStateLogPartitions        int           // transaction.state.log.num.partitions
	TransactionStateLogReplicationFactor int           // transaction.state.log.replication.factor
	TransactionStateLogMinISR            int           // transaction.state.log.min.isr
	TransactionStateLogSegmentBytes      int           // transaction.state.log.segment.bytes
	ProducerIDExpiration                 time.Duration // producer.id.expiration.ms

	BrokerSessionTimeout             time.Duration // broker.session.timeout.ms
	BrokerHeartbeatInterval          time.Duration // broker.heartbeat.interval.ms
	InitialBrokerRegistrationTimeout time.Duration // initial.broker.registration.timeout.ms
	QuorumElectionTimeout            time.Duration // controller.quorum.election.timeout.ms
	QuorumFetchTimeout               time.Duration // controller.quorum.fetch.timeout.ms

	// The authorizer (broker/acl): Authorizer is authorizer.class.name, empty for none (then
	// every request is allowed and the ACL APIs answer SECURITY_DISABLED).
	Authorizer           string   // authorizer.class.name, trimmed
	SuperUsers           []string // super.users, split at ';'
	AllowEveryoneIfNoACL bool     // allow.everyone.if.no.acl.found

	// Props is the full static property set the node started with, as given (unknown properties
	// included, ClusterIDProp excluded): the STATIC_BROKER_CONFIG layer of DescribeConfigs and of
	// topic defaults. A Broker built by hand may leave it nil: everything then shows as default.
	Props map[string]string
}

// Default returns minikraft's no-argument configuration: node 0, broker and controller,
// PLAINTEXT on 127.0.0.1:9092, CONTROLLER on 127.0.0.1:9093, data in ./minikraft-data.
func Default() Broker {
	b, _, err := FromProperties(nil)
	if err != nil {
		panic("config: the default configuration is invalid: " + err.Error())
	}
	return b
}

// FromProperties builds a node's configuration from its static properties (flags, environment
// and file already merged) the way Kafka's KafkaConfig does: every known property is parsed and
// validated (a bad value is an error worded as Kafka's ConfigException), the rest is derived, and
// the result is checked with Validate. Unknown properties do not fail: they come back, sorted, for
// the caller to log once ("supplied but isn't a known config").
func FromProperties(props map[string]string) (b Broker, unknown []string, err error) {
	props = populateSynonyms(props)
	b.Props = make(map[string]string, len(props))
	vals := map[string]string{} // canonical values of the known properties that are set
	b.TransactionVersion = DefaultTransactionVersion
	for _, name := range sortedKeys(props) {
		raw := props[name]
		switch name {
		case ClusterIDProp:
			b.ClusterID = strings.TrimSpace(raw)
			continue
		case TransactionVersionProp:
			v, perr := strconv.ParseInt(strings.TrimSpace(raw), 10, 16)
			if perr != nil || v < 0 || v > DefaultTransactionVersion {
				return Broker{}, unknown, fmt.Errorf("config: %s: %q is not a transaction.version level (0-%d)", name, raw, DefaultTransactionVersion)
			}
			b.TransactionVersion = int16(v)
			continue
		}
		b.Props[name] = raw
		d := brokerByName[name]
		if d == nil {
			unknown = append(unknown, name)
			continue
		}
		c, perr := d.Parse(raw)
		if perr != nil {
			return Broker{}, unknown, fmt.Errorf("config: %w", perr)
		}
		vals[name] = c
	}
	r := reader{vals: vals}
	if err := b.fill(&r); err != nil {
		return Broker{}, unknown, err
	}
	if err := b.Validate(); err != nil {
		return Broker{}, unknown, err
	}
	return b, unknown, nil
}

// populateSynonyms is Kafka's KafkaConfig.populateSynonyms: node.id and broker.id name one
// property, so the one given is copied to the other before anything reads them. Besides the id
// itself, that is what DescribeConfigs shows: with only node.id set (the KRaft way, and what
// --node-id sets) Kafka describes broker.id with the same value as STATIC_BROKER_CONFIG, not as
// its default -1.
func populateSynonyms(props map[string]string) map[string]string {
	node, hasNode := props["node.id"]
	id, hasID := props["broker.id"]
	if hasNode == hasID {
		return props
	}
	out := maps.Clone(props)
	if hasNode {
		out["broker.id"] = node
	} else {
		out["node.id"] = id
	}
	return out
}

// reader reads canonical property values, falling back on the defaults.
type reader struct{ vals map[string]string }

func (r *reader) get(name string) (string, bool) {
	if s, ok := r.vals[name]; ok {
		return s, true
	}
	if d := brokerByName[name]; d != nil && d.Default != nil {
		return *d.Default, true
	}
	return "", false
}

func (r *reader) str(name string) string { s, _ := r.get(name); return s }

func (r *reader) num(name string) int64 {
	n, _ := strconv.ParseInt(r.str(name), 10, 64)
	return n
}

func (r *reader) ms(name string) time.Duration { return time.Duration(r.num(name)) * time.Millisecond }

func (b *Broker) fill(r *reader) error {
	if id, ok := r.vals["broker.id"]; ok && r.vals["node.id"] != id {
		return brokerErr("node.id", "you must set `node.id` to the same value as `broker.id` (node.id=%s, broker.id=%s)", r.vals["node.id"], id)
	}
	b.NodeID = int32(r.num("node.id"))
	roles, err := parseRoles(r.str("process.roles"))
	if err != nil {
		return err
	}
	b.ProcessRoles = roles
	for _, n := range parseCsvList(r.str("controller.listener.names")) {
		b.ControllerListenerNames = append(b.ControllerListenerNames, strings.ToUpper(n))
	}
	if b.Listeners, err = parseListeners("listeners", r.str("listeners"), true); err != nil {
		return err
	}
	if m, ok := r.vals["listener.security.protocol.map"]; ok {
		if b.SecurityProtocolMap, err = ParseProtocolMap(m); err != nil {
			return err
		}
	}
	if err := b.fillAdvertised(r); err != nil {
		return err
	}
	if name, ok := r.vals["inter.broker.listener.name"]; ok {
		if _, both := r.vals["security.inter.broker.protocol"]; both {
			return brokerErr("inter.broker.listener.name", "only one of inter.broker.listener.name and security.inter.broker.protocol should be set")
		}
		b.InterBrokerListenerName = strings.ToUpper(name)
	} else if p, ok := r.vals["security.inter.broker.protocol"]; ok {
		// Kafka: the inter-broker listener is the one named after the protocol.
		b.InterBrokerListenerName = p
	} else {
		b.InterBrokerListenerName = defaultInterBroker(b.AdvertisedListeners)
	}
	if b.Voters, err = ParseVoters(r.str("controller.quorum.voters")); err != nil {
		return err
	}
	if len(b.Voters) == 0 && b.IsController() {
		if l, ok := b.ControllerListener(); ok {
			b.Voters = []Voter{{ID: b.NodeID, Host: loopbackFor(l.Host), Port: l.Port}}
		}
	}
	dirs, ok := r.get("log.dirs")
	if !ok {
		dirs = r.str("log.dir")
	}
	b.LogDirs = parseCsvList(dirs)
	b.MetadataLogDir = r.str("metadata.log.dir")
	b.Rack = r.str("broker.rack")
	b.fillNumbers(r)
	return nil
}

// fillAdvertised applies Kafka's effectiveAdvertisedListeners: advertised.listeners if set, else
// listeners minus the controller listeners; an empty host becomes this machine's name.
func (b *Broker) fillAdvertised(r *reader) error {
	if s, ok := r.vals["advertised.listeners"]; ok {
		ls, err := parseListeners("advertised.listeners", s, false)
		if err != nil {
			return err
		}
		b.AdvertisedListeners = ls
	} else {
		for _, l := range b.Listeners {
			if !slices.Contains(b.ControllerListenerNames, l.Name) {
				b.AdvertisedListeners = append(b.AdvertisedListeners, l)
			}
		}
	}
	for i, l := range b.AdvertisedListeners {
		if l.Host != "" {
			continue
		}
		h, err := hostname()
		if err != nil || h == "" {
			return brokerErr("advertised.listeners", "listener %s has no host and this machine's host name is unknown (%v): set advertised.listeners", l.Name, err)
		}
		b.AdvertisedListeners[i].Host = h
	}
	return nil
}

// defaultInterBroker is PLAINTEXT when advertised (Kafka's default, from
// security.inter.broker.protocol=PLAINTEXT), else the first advertised listener.
func defaultInterBroker(adv []Listener) string {
	for _, l := range adv {
		if l.Name == "PLAINTEXT" {
			return l.Name
		}
	}
	if len(adv) > 0 {
		return adv[0].Name
	}
	return ""
}

// loopbackFor turns a bind-everything host into an address this node can dial itself on.
func loopbackFor(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}

func (b *Broker) fillNumbers(r *reader) {
	b.AutoCreateTopics = r.str("auto.create.topics.enable") == "true"
	b.Authorizer = strings.TrimSpace(r.str("authorizer.class.name"))
	b.SuperUsers = parseSuperUsers(r.str("super.users"))
	b.AllowEveryoneIfNoACL = r.str("allow.everyone.if.no.acl.found") == "true"
	b.DeleteTopicEnable = r.str("delete.topic.enable") == "true"
	b.NumPartitions = int(r.num("num.partitions"))
	b.DefaultReplicationFactor = int(r.num("default.replication.factor"))
	b.MinInsyncReplicas = int(r.num("min.insync.replicas"))
	b.MessageMaxBytes = int(r.num("message.max.bytes"))
	b.SocketRequestMaxBytes = int(r.num("socket.request.max.bytes"))
	b.FetchMaxBytes = int(r.num("fetch.max.bytes"))
	b.FetchSessionCacheSlots = int(r.num("max.incremental.fetch.session.cache.slots"))
	b.LogRetentionCheckInterval = r.ms("log.retention.check.interval.ms")
	b.LogCleanerEnable = r.str("log.cleaner.enable") == "true"
	b.LogCleanerBackoff = r.ms("log.cleaner.backoff.ms")
	b.ReplicaLagTimeMax = r.ms("replica.lag.time.max.ms")
	b.ReplicaFetchMaxBytes = int(r.num("replica.fetch.max.bytes"))
	b.ReplicaFetchResponseMaxBytes = int(r.num("replica.fetch.response.max.bytes"))
	b.ReplicaFetchWaitMax = r.ms("replica.fetch.wait.max.ms")
	b.ReplicaFetchBackoff = r.ms("replica.fetch.backoff.ms")
	b.UncleanLeaderElection = r.str("unclean.leader.election.enable") == "true"
	b.AutoLeaderRebalance = r.str("auto.leader.rebalance.enable") == "true"
	b.LeaderImbalanceCheckInterval = time.Duration(r.num("leader.imbalance.check.interval.seconds")) * time.Second

	b.OffsetsTopicPartitions = int(r.num("offsets.topic.num.partitions"))
	b.OffsetsTopicReplicationFactor = int(r.num("offsets.topic.replication.factor"))
	b.OffsetsTopicSegmentBytes = int(r.num("offsets.topic.segment.bytes"))
	b.OffsetsRetention = time.Duration(r.num("offsets.retention.minutes")) * time.Minute
	b.OffsetsRetentionCheckInterval = r.ms("offsets.retention.check.interval.ms")
	b.OffsetsCommitTimeout = r.ms("offsets.commit.timeout.ms")
	b.OffsetMetadataMaxBytes = int(r.num("offset.metadata.max.bytes"))
	b.GroupInitialRebalanceDelay = r.ms("group.initial.rebalance.delay.ms")
	b.GroupMinSessionTimeout = r.ms("group.min.session.timeout.ms")
	b.GroupMaxSessionTimeout = r.ms("group.max.session.timeout.ms")
	b.GroupMaxSize = int(r.num("group.max.size"))

	b.TransactionalIDExpiration = r.ms("transactional.id.expiration.ms")
	b.TransactionMaxTimeout = r.ms("transaction.max.timeout.ms")
	b.TransactionPartitionVerification = r.str("transaction.partition.verification.enable") == "true"
	b.TransactionStateLogPartitions = int(r.num("transaction.state.log.num.partitions"))
	b.TransactionStateLogReplicationFactor = int(r.num("transaction.state.log.replication.factor"))
	b.TransactionStateLogMinISR = int(r.num("transaction.state.log.min.isr"))
	b.TransactionStateLogSegmentBytes = int(r.num("transaction.state.log.segment.bytes"))
	b.ProducerIDExpiration = r.ms("producer.id.expiration.ms")

	b.BrokerSessionTimeout = r.ms("broker.session.timeout.ms")
	b.BrokerHeartbeatInterval = r.ms("broker.heartbeat.interval.ms")
	b.InitialBrokerRegistrationTimeout = r.ms("initial.broker.registration.timeout.ms")
	b.QuorumElectionTimeout = r.ms("controller.quorum.election.timeout.ms")
	b.QuorumFetchTimeout = r.ms("controller.quorum.fetch.timeout.ms")
}

// IsBroker reports whether process.roles contains broker.
func (b *Broker) IsBroker() bool { return slices.Contains(b.ProcessRoles, "broker") }

// IsController reports whether process.roles contains controller.
func (b *Broker) IsController() bool { return slices.Contains(b.ProcessRoles, "controller") }

// Listener returns the listener with the given name.
func (b *Broker) Listener(name string) (Listener, bool) { return findListener(b.Listeners, name) }

// Advertised returns the advertised listener with the given name.
func (b *Broker) Advertised(name string) (Listener, bool) {
	return findListener(b.AdvertisedListeners, name)
}

// ControllerListener returns the first listener named in controller.listener.names: the one
// this node serves Raft and control calls on (and, broker-only, dials the controllers with).
func (b *Broker) ControllerListener() (Listener, bool) {
	for _, n := range b.ControllerListenerNames {
		if l, ok := b.Listener(n); ok {
			return l, true
		}
	}
	return Listener{}, false
}

// SecurityProtocol returns the security protocol of a listener: its listener.security.protocol.map
// entry; PLAINTEXT for a listener named PLAINTEXT or named in controller.listener.names; and, when
// the map is not set, Kafka's default map (SSL, SASL_PLAINTEXT, SASL_SSL map to themselves).
// ok is false when the listener has no protocol.
func (b *Broker) SecurityProtocol(listener string) (string, bool) {
	if p, ok := b.SecurityProtocolMap[listener]; ok {
		return p, true
	}
	if listener == "PLAINTEXT" || slices.Contains(b.ControllerListenerNames, listener) {
		return "PLAINTEXT", true
	}
	if b.SecurityProtocolMap == nil && securityProtocols[listener] {
		return listener, true
	}
	return "", false
}

// TopicDefaults returns the configuration a topic without overrides gets from this node's static
// properties (dynamic broker configs not applied).
func (b *Broker) TopicDefaults() Topic { return TopicFrom(ResolveTopic(nil, nil, nil, b.Props)) }

func findListener(ls []Listener, name string) (Listener, bool) {
	for _, l := range ls {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}
