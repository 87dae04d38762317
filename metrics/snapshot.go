package metrics

// Snapshot is a node's state as one scrape exposes it. The broker fills it (Source) from what
// it holds; every field is a plain value, so filling it takes no lock of this package.
type Snapshot struct {
	// Topics are the traffic counters of the topics with a replica here, each the sum over its
	// local replicas.
	Topics []TopicTraffic
	// Partitions are this node's replicas.
	Partitions []Partition
	// Replicas sums the replica manager's figures.
	Replicas ReplicaManager
	// Controller is the active controller's view; Active is false on every other node, whose
	// cluster-wide figures are zero, as Kafka reports them only on the active controller.
	Controller Controller
	// Raft is the metadata quorum as this node sees it.
	Raft Raft
	// Groups counts the consumer groups this node coordinates, by Kafka's state name (Stable,
	// PreparingRebalance, CompletingRebalance, Empty, Dead).
	Groups map[string]int
	// Connections counts the open client connections by listener name.
	Connections map[string]int
}

// TopicTraffic is one topic's counters on this node.
type TopicTraffic struct {
	Topic                         string
	MessagesIn, BytesIn, BytesOut int64
}

// Partition is one local replica.
type Partition struct {
	Topic           string
	Partition       int32
	Size            int64 // bytes in the log's segments
	StartOffset     int64
	EndOffset       int64
	Segments        int
	Leader          bool // this node leads it
	UnderReplicated bool // led here with fewer in-sync replicas than replicas
}

// ReplicaManager is what Kafka's ReplicaManager MBean reports.
type ReplicaManager struct {
	Partitions, Leaders                     int
	UnderReplicated, UnderMinISR, AtMinISR  int // of the partitions led here
	ISRShrinks, ISRExpands                  int64
	ReplicationBytesIn, ReplicationBytesOut int64
}

// Controller is what Kafka's KafkaController MBean reports.
type Controller struct {
	Active                         bool
	OfflinePartitions              int // partitions without a leader
	GlobalPartitions, GlobalTopics int
	ActiveBrokers, FencedBrokers   int
}

// Raft is the metadata log's position as this node sees it.
type Raft struct {
	// Voter is false on a broker-only node, which has no Raft log: only Applied is known there.
	Voter bool
	// Leader is the quorum leader's id, -1 when none is known; Epoch its term.
	Leader int32
	Epoch  uint64
	// HighWatermark is the highest index this node knows committed; LogEndOffset the last in
	// its own log.
	HighWatermark, LogEndOffset uint64
	// Applied is the index of the metadata this node's partitions are reconciled with.
	Applied uint64
}

// Source fills s with the node's current state; it is called once per scrape.
type Source func(s *Snapshot)
