package console

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type brokerRow struct {
	ID         int32
	Address    string
	Rack       string
	Controller bool
}

type voterRow struct {
	ID        int32
	Kind      string // "voter" or "observer"
	Leader    bool
	Offset    int64
	Lag       int64
	LastFetch time.Time // when the leader last heard from it (v1); zero when unknown
}

type overviewData struct {
	ClusterID   string
	Controller  int32
	Brokers     []brokerRow
	Quorum      []voterRow
	QuorumErr   string
	LeaderID    int32
	LeaderEpoch int32
	HighWater   int64
	Topics      int
	Internal    int
	Partitions  int
	UnderRepl   int
	Offline     int
}

// overview is the home page: brokers as Metadata lists them (the advertised address of the
// listener the console reached, and the rack), the cluster id and controller, totals over the
// topics, and the metadata quorum as DescribeQuorum gives it.
func (s *Server) overview(r *http.Request) (*view, error) {
	ctx := r.Context()
	md, err := s.metadata(ctx)
	if err != nil {
		return nil, err
	}
	d := overviewData{ClusterID: md.Cluster, Controller: md.Controller}
	for _, b := range md.Brokers {
		row := brokerRow{ID: b.NodeID, Address: b.Host + ":" + strconv.Itoa(int(b.Port)), Controller: b.NodeID == md.Controller}
		if b.Rack != nil {
			row.Rack = *b.Rack
		}
		d.Brokers = append(d.Brokers, row)
	}
	sort.Slice(d.Brokers, func(i, j int) bool { return d.Brokers[i].ID < d.Brokers[j].ID })
	for _, t := range md.Topics {
		if t.IsInternal {
			d.Internal++
		} else {
			d.Topics++
		}
		for _, p := range t.Partitions {
			d.Partitions++
			if len(p.ISR) < len(p.Replicas) {
				d.UnderRepl++
			}
			if p.Leader < 0 {
				d.Offline++
			}
		}
	}
	s.describeQuorum(r, &d)
	return &view{Template: "overview", Title: "Overview", Data: d}, nil
}

// describeQuorum fills the quorum part of the overview. A cluster that does not answer
// DescribeQuorum (ZooKeeper-based Kafka, an old version) still gets its overview, with the
// reason instead of the table.
func (s *Server) describeQuorum(r *http.Request, d *overviewData) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(r.Context(), s.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		d.QuorumErr = errorText(err)
		return
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		d.QuorumErr = "DescribeQuorum answered no partition"
		return
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		d.QuorumErr = errorText(err)
		return
	}
	d.LeaderID, d.LeaderEpoch, d.HighWater = p.LeaderID, p.LeaderEpoch, p.HighWatermark
	add := func(kind string, rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) {
		for _, v := range rs {
			lag := p.HighWatermark - v.LogEndOffset
			if lag < 0 {
				lag = 0
			}
			var seen time.Time
			if v.LastFetchTimestamp > 0 {
				seen = time.UnixMilli(v.LastFetchTimestamp)
			}
			d.Quorum = append(d.Quorum, voterRow{ID: v.ReplicaID, Kind: kind, Leader: v.ReplicaID == p.LeaderID, Offset: v.LogEndOffset, Lag: lag, LastFetch: seen})
		}
	}
	add("voter", p.CurrentVoters)
	add("observer", p.Observers)
}
