package metrics

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Node is one node's metrics: the request counters its wire server feeds, and a registry that
// turns a Snapshot into Prometheus metrics at each scrape, with Go's runtime and the process's
// figures (go_*, process_*).
type Node struct {
	Requests *Requests
	reg      *prometheus.Registry
}

// NewNode returns a Node whose scrapes call src.
func NewNode(src Source) *Node {
	n := &Node{Requests: NewRequests(), reg: prometheus.NewRegistry()}
	n.reg.MustRegister(&collector{src: src, req: n.Requests},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return n
}

// Gatherer is the node's registry, for tests and for serving it elsewhere.
func (n *Node) Gatherer() prometheus.Gatherer { return n.reg }

// Handler serves the node's metrics in Prometheus's text format (or OpenMetrics, when asked).
func (n *Node) Handler() http.Handler {
	return promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// collector is an unchecked collector (Describe sends nothing): which topics and partitions
// exist changes between scrapes.
type collector struct {
	src Source
	req *Requests
}

func (c *collector) Describe(chan<- *prometheus.Desc) {}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	messagesIn = desc("kafka_server_brokertopicmetrics_messagesin_total", "Records appended by this node as leader, by topic (MessagesInPerSec).", "topic")
	bytesIn    = desc("kafka_server_brokertopicmetrics_bytesin_total", "Record-batch bytes appended by this node as leader, by topic (BytesInPerSec).", "topic")
	bytesOut   = desc("kafka_server_brokertopicmetrics_bytesout_total", "Record bytes sent to consumers, by topic (BytesOutPerSec).", "topic")
	replIn     = desc("kafka_server_brokertopicmetrics_replicationbytesin_total", "Record bytes appended by this node as a follower (ReplicationBytesInPerSec).")
	replOut    = desc("kafka_server_brokertopicmetrics_replicationbytesout_total", "Record bytes sent to followers (ReplicationBytesOutPerSec).")

	partitionCount  = desc("kafka_server_replicamanager_partitioncount", "Replicas on this node.")
	leaderCount     = desc("kafka_server_replicamanager_leadercount", "Partitions this node leads.")
	underReplicated = desc("kafka_server_replicamanager_underreplicatedpartitions", "Partitions led here whose ISR is smaller than their replica set.")
	underMinISR     = desc("kafka_server_replicamanager_underminisrpartitioncount", "Partitions led here whose ISR is below min.insync.replicas.")
	atMinISR        = desc("kafka_server_replicamanager_atminisrpartitioncount", "Partitions led here whose ISR is exactly min.insync.replicas.")
	isrShrinks      = desc("kafka_server_replicamanager_isrshrinks_total", "Committed ISR shrinks of partitions led here (IsrShrinksPerSec).")
	isrExpands      = desc("kafka_server_replicamanager_isrexpands_total", "Committed ISR expansions of partitions led here (IsrExpandsPerSec).")
	partUnder       = desc("kafka_cluster_partition_underreplicated", "1 if the partition, led here, is under-replicated.", "topic", "partition")

	logSize     = desc("kafka_log_log_size", "Bytes in the replica's log segments.", "topic", "partition")
	logStart    = desc("kafka_log_log_logstartoffset", "The replica's log start offset.", "topic", "partition")
	logEnd      = desc("kafka_log_log_logendoffset", "The replica's log end offset.", "topic", "partition")
	logSegments = desc("kafka_log_log_numlogsegments", "Segments in the replica's log.", "topic", "partition")

	activeController  = desc("kafka_controller_kafkacontroller_activecontrollercount", "1 on the active controller (the metadata quorum's leader), else 0.")
	offlinePartitions = desc("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader (active controller only).")
	globalPartitions  = desc("kafka_controller_kafkacontroller_globalpartitioncount", "Partitions in the cluster (active controller only).")
	globalTopics      = desc("kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster (active controller only).")
	activeBrokers     = desc("kafka_controller_kafkacontroller_activebrokercount", "Registered, unfenced brokers (active controller only).")
	fencedBrokers     = desc("kafka_controller_kafkacontroller_fencedbrokercount", "Registered, fenced brokers (active controller only).")

	raftLeader    = desc("kafka_server_raftmetrics_current_leader", "The metadata quorum's leader, -1 if none is known.")
	raftEpoch     = desc("kafka_server_raftmetrics_current_epoch", "The metadata quorum's current epoch (Raft term).")
	raftHW        = desc("kafka_server_raftmetrics_high_watermark", "The highest metadata log index this node knows committed.")
	raftLEO       = desc("kafka_server_raftmetrics_log_end_offset", "The last index of this node's metadata log.")
	raftLag       = desc("kafka_server_raftmetrics_commit_lag", "Committed metadata records this node has not yet applied (high watermark minus last applied).")
	raftApplied   = desc("kafka_server_brokermetadatametrics_last_applied_record_offset", "The metadata log index this node's partitions are reconciled with.")
	numGroups     = desc("kafka_coordinator_group_groupmetadatamanager_numgroups", "Consumer groups this node coordinates.")
	connections   = desc("kafka_server_socketservermetrics_connection_count", "Open client connections, by listener.", "listener")
	groupStateFam = map[string]*prometheus.Desc{
		"PreparingRebalance":  desc("kafka_coordinator_group_groupmetadatamanager_numgroupspreparingrebalance", "Groups coordinated here that are preparing a rebalance."),
		"CompletingRebalance": desc("kafka_coordinator_group_groupmetadatamanager_numgroupscompletingrebalance", "Groups coordinated here that are completing a rebalance."),
		"Stable":              desc("kafka_coordinator_group_groupmetadatamanager_numgroupsstable", "Groups coordinated here that are stable."),
		"Empty":               desc("kafka_coordinator_group_groupmetadatamanager_numgroupsempty", "Groups coordinated here that have no members."),
		"Dead":                desc("kafka_coordinator_group_groupmetadatamanager_numgroupsdead", "Groups coordinated here that are dead."),
	}
)

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.req.collect(ch)
	var s Snapshot
	c.src(&s)
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, t := range s.Topics {
		counter(messagesIn, t.MessagesIn, t.Topic)
		counter(bytesIn, t.BytesIn, t.Topic)
		counter(bytesOut, t.BytesOut, t.Topic)
	}
	r := &s.Replicas
	counter(replIn, r.ReplicationBytesIn)
	counter(replOut, r.ReplicationBytesOut)
	gauge(partitionCount, float64(r.Partitions))
	gauge(leaderCount, float64(r.Leaders))
	gauge(underReplicated, float64(r.UnderReplicated))
	gauge(underMinISR, float64(r.UnderMinISR))
	gauge(atMinISR, float64(r.AtMinISR))
	counter(isrShrinks, r.ISRShrinks)
	counter(isrExpands, r.ISRExpands)
	for _, p := range s.Partitions {
		part := strconv.Itoa(int(p.Partition))
		gauge(logSize, float64(p.Size), p.Topic, part)
		gauge(logStart, float64(p.StartOffset), p.Topic, part)
		gauge(logEnd, float64(p.EndOffset), p.Topic, part)
		gauge(logSegments, float64(p.Segments), p.Topic, part)
		if p.Leader {
			gauge(partUnder, b2f(p.UnderReplicated), p.Topic, part)
		}
	}
	ct := &s.Controller
	gauge(activeController, b2f(ct.Active))
	gauge(offlinePartitions, float64(ct.OfflinePartitions))
	gauge(globalPartitions, float64(ct.GlobalPartitions))
	gauge(globalTopics, float64(ct.GlobalTopics))
	gauge(activeBrokers, float64(ct.ActiveBrokers))
	gauge(fencedBrokers, float64(ct.FencedBrokers))

	rf := &s.Raft
	gauge(raftLeader, float64(rf.Leader))
	gauge(raftApplied, float64(rf.Applied))
	if rf.Voter {
		gauge(raftEpoch, float64(rf.Epoch))
		gauge(raftHW, float64(rf.HighWatermark))
		gauge(raftLEO, float64(rf.LogEndOffset))
		gauge(raftLag, float64(rf.HighWatermark-min(rf.Applied, rf.HighWatermark)))
	}

	total := 0
	for state, n := range s.Groups {
		if state != "Dead" {
			total += n
		}
	}
	gauge(numGroups, float64(total))
	for state, d := range groupStateFam {
		gauge(d, float64(s.Groups[state]))
	}
	listeners := make([]string, 0, len(s.Connections))
	for l := range s.Connections {
		listeners = append(listeners, l)
	}
	slices.SortFunc(listeners, cmp.Compare)
	for _, l := range listeners {
		gauge(connections, float64(s.Connections[l]), l)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func itoa(i int) string { return strconv.Itoa(i) }
