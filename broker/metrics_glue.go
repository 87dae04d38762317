package broker

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/metrics"
)

// The node's metrics (package metrics): the wire server counts every answered request into
// b.metrics.Requests, the partitions count their traffic (broker/partition/traffic.go), and
// metricsSnapshot reads everything else from the broker's state when Prometheus scrapes.

// Metrics is the node's Prometheus metrics: its registry and /metrics handler.
func (b *Broker) Metrics() *metrics.Node { return b.metrics }

// Ready reports why the node should not get client traffic yet, nil once it should: a broker
// is ready once the controller accepted its registration, its metadata caught up with that
// registration (it serves its client listeners from then on: startServing) and the current
// metadata has it unfenced; a controller-only node once its quorum has a leader. It is what
// /readyz answers.
func (b *Broker) Ready() error {
	switch {
	case b.ctx.Err() != nil:
		return errors.New("stopped")
	case b.Err() != nil:
		return b.Err()
	case b.stopping.Load():
		return errors.New("shutting down")
	}
	if !b.cfg.Broker.IsBroker() {
		if _, _, ok := b.meta.Leader(); !ok {
			return errors.New("the metadata quorum has no leader")
		}
		return nil
	}
	switch br := b.meta.State().Brokers[b.cfg.Broker.NodeID]; {
	case !b.registered.Load():
		return errors.New("not registered with the controller yet")
	case !b.serving.Load():
		return errors.New("catching up with the metadata")
	case br == nil:
		return errors.New("not in the metadata yet")
	case br.Fenced:
		return errors.New("fenced by the controller")
	}
	return nil
}

// metricsSnapshot fills s for a scrape (metrics.Source).
func (b *Broker) metricsSnapshot(s *metrics.Snapshot) {
	self := b.cfg.Broker.NodeID
	st := b.meta.State()

	// Local replicas: their logs and traffic, summed by topic.
	rm := &s.Replicas
	for topic, parts := range b.replicas.All() {
		tt := metrics.TopicTraffic{Topic: topic}
		for id, p := range parts {
			tr := p.Traffic()
			tt.MessagesIn += tr.MessagesIn
			tt.BytesIn += tr.BytesIn
			tt.BytesOut += tr.BytesOut
			rm.ReplicationBytesIn += tr.ReplicationBytesIn
			rm.ReplicationBytesOut += tr.ReplicationBytesOut
			rm.Partitions++
			mp := st.Partition(topic, id)
			lp := metrics.Partition{
				Topic: topic, Partition: id,
				Size: p.Log().Size(), StartOffset: p.LogStartOffset(), EndOffset: p.LogEndOffset(),
				Leader: mp != nil && mp.Leader == self,
			}
			if lp.Leader {
				rm.Leaders++
				lp.UnderReplicated = len(mp.ISR) < len(mp.Replicas)
				if lp.UnderReplicated {
					rm.UnderReplicated++
				}
				if _, tc, err := b.replicas.Local(topic, id); err == nil {
					switch {
					case len(mp.ISR) < tc.MinInsyncReplicas:
						rm.UnderMinISR++
					case len(mp.ISR) == tc.MinInsyncReplicas:
						rm.AtMinISR++
					}
				}
			}
			s.Partitions = append(s.Partitions, lp)
		}
		s.Topics = append(s.Topics, tt)
	}
	slices.SortFunc(s.Topics, func(a, b metrics.TopicTraffic) int { return strings.Compare(a.Topic, b.Topic) })
	slices.SortFunc(s.Partitions, func(a, b metrics.Partition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	rm.ISRShrinks, rm.ISRExpands = b.replicas.ISRChanges()

	// The controller's figures, on the active controller only (as Kafka's KafkaController).
	if b.meta.IsLeader() {
		c := &s.Controller
		c.Active = true
		for _, t := range st.Topics {
			c.GlobalTopics++
			for _, p := range t.Partitions {
				c.GlobalPartitions++
				if p.Leader < 0 {
					c.OfflinePartitions++
				}
			}
		}
		for _, br := range st.Brokers {
			if br.Fenced {
				c.FencedBrokers++
			} else {
				c.ActiveBrokers++
			}
		}
	}

	s.Raft.Leader = -1
	if id, _, ok := b.meta.Leader(); ok {
		s.Raft.Leader = id
	}
	s.Raft.Applied = b.applied.Load()
	if b.raft != nil {
		q, _ := b.raft.Quorum() // its figures are filled before the configuration is read
		s.Raft.Voter = true
		s.Raft.Epoch, s.Raft.HighWatermark, s.Raft.LogEndOffset = q.Term, q.CommitIndex, q.LastIndex
	}

	if b.groups != nil {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 4
		s.Groups = make(map[string]int)
		for _, g := range b.groups.ListGroups(context.Background(), req).Groups {
			s.Groups[g.GroupState]++
		}
	}
	// Every client listener, with zero connections too, so a dashboard's series does not vanish.
	s.Connections = b.srv.Connections()
	for _, l := range b.cfg.Broker.Listeners {
		if _, ok := s.Connections[l.Name]; !ok && !slices.Contains(b.cfg.Broker.ControllerListenerNames, l.Name) {
			s.Connections[l.Name] = 0
		}
	}
}
