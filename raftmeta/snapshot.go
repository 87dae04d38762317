package raftmeta

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
)

// snapshotVersion is the version of the snapshot document; Restore refuses any other.
const snapshotVersion = 1

// snapshotDoc is the JSON form of a State. The State's maps become lists sorted by key (JSON
// objects cannot have [16]byte or struct keys, and sorted lists make the bytes a pure function
// of the State, so two nodes' snapshots of the same index are identical). TopicIDs is derived
// from Topics on restore.
type snapshotDoc struct {
	Version        int              `json:"version"`
	ClusterID      string           `json:"cluster_id"`
	Index          uint64           `json:"index"`
	NextProducerID int64            `json:"next_producer_id"`
	Brokers        []*Broker        `json:"brokers"`
	Topics         []*Topic         `json:"topics"`
	Configs        []snapshotConfig `json:"configs"`
	Scram          []ScramEntry     `json:"scram,omitempty"`
	ACLs           []ACL            `json:"acls,omitempty"`
}

type snapshotConfig = ConfigEntry

func writeState(w io.Writer, s *State) error {
	doc := snapshotDoc{
		Version:        snapshotVersion,
		ClusterID:      s.ClusterID,
		Index:          s.Index,
		NextProducerID: s.NextProducerID,
		Brokers:        make([]*Broker, 0, len(s.Brokers)),
		Topics:         make([]*Topic, 0, len(s.Topics)),
		Configs:        make([]snapshotConfig, 0, len(s.Configs)),
		Scram:          scramEntries(s.ScramCredentials),
		ACLs:           s.ACLs,
	}
	for _, id := range slices.Sorted(maps.Keys(s.Brokers)) {
		doc.Brokers = append(doc.Brokers, s.Brokers[id])
	}
	for _, name := range slices.Sorted(maps.Keys(s.Topics)) {
		doc.Topics = append(doc.Topics, s.Topics[name])
	}
	for r, m := range s.Configs {
		doc.Configs = append(doc.Configs, snapshotConfig{Resource: r, Configs: m})
	}
	slices.SortFunc(doc.Configs, func(a, b snapshotConfig) int {
		return cmp.Or(cmp.Compare(a.Resource.Type, b.Resource.Type), cmp.Compare(a.Resource.Name, b.Resource.Name))
	})
	if err := json.NewEncoder(w).Encode(&doc); err != nil {
		return fmt.Errorf("raftmeta: writing snapshot: %w", err)
	}
	return nil
}

func readState(r io.Reader) (*State, error) {
	var doc snapshotDoc
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("raftmeta: reading snapshot: %w", err)
	}
	if doc.Version != snapshotVersion {
		return nil, fmt.Errorf("raftmeta: snapshot version %d, this version reads %d", doc.Version, snapshotVersion)
	}
	s := emptyState()
	s.ClusterID = doc.ClusterID
	s.Index = doc.Index
	s.NextProducerID = doc.NextProducerID
	for _, b := range doc.Brokers {
		if b == nil {
			return nil, fmt.Errorf("raftmeta: reading snapshot: null broker")
		}
		s.Brokers[b.ID] = b
	}
	for _, t := range doc.Topics {
		if t == nil || slices.Contains(t.Partitions, nil) {
			return nil, fmt.Errorf("raftmeta: reading snapshot: null topic or partition")
		}
		s.Topics[t.Name] = t
		s.TopicIDs[t.ID] = t.Name
	}
	for _, c := range doc.Configs {
		if len(c.Configs) > 0 {
			s.Configs[c.Resource] = c.Configs
		}
	}
	for _, e := range doc.Scram {
		s.ScramCredentials[e.Key] = e.Credential
	}
	if err := s.setACLs(doc.ACLs); err != nil {
		return nil, fmt.Errorf("raftmeta: reading snapshot: %w", err)
	}
	return s, nil
}
