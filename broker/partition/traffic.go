package partition

import "sync/atomic"

// traffic counts what a replica took in and gave out, for the node's metrics (Kafka's
// BrokerTopicMetrics, which the broker sums by topic when it is scraped). The counters are
// atomics outside Partition.mu so that counting costs an append or a fetch one atomic add and a
// scrape takes no lock: they may be read while an append is under way, and a scrape sees each
// counter as of some moment during it.
type traffic struct {
	messagesIn, bytesIn                     atomic.Int64 // appended as leader (producers, coordinators)
	bytesOut                                atomic.Int64 // records sent to consumers
	replicationBytesIn, replicationBytesOut atomic.Int64 // appended as follower; sent to followers
}

// Traffic is a replica's counters since it was opened on this node (a node restart, or the
// replica moving away and back, starts them from zero, as Kafka's meters do).
type Traffic struct {
	// MessagesIn and BytesIn are the records and record-batch bytes appended as leader, retried
	// duplicates of an idempotent producer not counted (Kafka's MessagesInPerSec, BytesInPerSec).
	MessagesIn, BytesIn int64
	// BytesOut is the record bytes of Fetch responses to consumers (BytesOutPerSec).
	BytesOut int64
	// ReplicationBytesIn is what this replica appended as a follower; ReplicationBytesOut what
	// followers fetched from it as leader (ReplicationBytesIn/OutPerSec).
	ReplicationBytesIn, ReplicationBytesOut int64
}

// Traffic returns the replica's counters.
func (p *Partition) Traffic() Traffic {
	tr := p.traffic.Load()
	if tr == nil {
		return Traffic{}
	}
	return Traffic{
		MessagesIn:          tr.messagesIn.Load(),
		BytesIn:             tr.bytesIn.Load(),
		BytesOut:            tr.bytesOut.Load(),
		ReplicationBytesIn:  tr.replicationBytesIn.Load(),
		ReplicationBytesOut: tr.replicationBytesOut.Load(),
	}
}

// counters returns the partition's counters, making them at the first count: one atomic load
// on the paths that count, and no counters for a partition nothing was ever written to or
// read from.
func (p *Partition) counters() *traffic {
	if tr := p.traffic.Load(); tr != nil {
		return tr
	}
	p.traffic.CompareAndSwap(nil, new(traffic))
	return p.traffic.Load()
}

// CountFetched records that a Fetch response carried n record bytes of this replica, to a
// follower (replica fetch) or to a consumer. The broker calls it once per response, not per
// read: a long poll reads again while it waits, and only what is sent counts.
func (p *Partition) CountFetched(n int, follower bool) {
	if n <= 0 {
		return
	}
	if follower {
		p.counters().replicationBytesOut.Add(int64(n))
	} else {
		p.counters().bytesOut.Add(int64(n))
	}
}
