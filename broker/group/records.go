package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record versions written, as Kafka 3.4 writes them (the highest non-flexible versions).
const (
	offsetKeyVersion   = 1 // OffsetCommitKey v0/v1 are the same bytes; 3.4 writes 1
	groupKeyVersion    = 2 // GroupMetadataKey
	offsetValueVersion = 3 // OffsetCommitValue (v1 when the commit carries an explicit expiry)
	groupValueVersion  = 3 // GroupMetadataValue
)

// ErrBadRecord is wrapped by the errors of records that cannot be decoded.
var ErrBadRecord = errors.New("group: undecodable __consumer_offsets record")

type topicPartition struct {
	topic     string
	partition int32
}

// offsetEntry is one committed offset (Kafka's OffsetAndMetadata).
type offsetEntry struct {
	offset      int64
	leaderEpoch int32 // -1: none
	metadata    string
	commitTime  int64 // unix millis
	expireTime  int64 // unix millis; -1: none (only OffsetCommit v1-v4 with a retention time set it)
	// logOffset is the offset of the record in __consumer_offsets (-1 until it is durable): of
	// a regular and a transactional commit of one partition, the one later in the log wins,
	// whichever completes last (Kafka's CommitRecordMetadataAndOffset.olderThan).
	logOffset int64
}

func offsetCommitKey(group string, tp topicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.topic, Partition: tp.partition}
	return k.AppendTo(nil)
}

func offsetCommitValue(o offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	if o.expireTime != -1 {
		v.Version = 1 // the only version with ExpireTimestamp, as Kafka does
	}
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitTime
	v.ExpireTimestamp = o.expireTime
	return v.AppendTo(nil)
}

func groupMetadataKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// groupMetadataValue encodes the group's current generation with the given assignment, exactly as
// Kafka's GroupMetadataManager.groupMetadataValue.
func (g *group) groupMetadataValue(assignment map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.hasProtocol {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateTimeMillis()
	for _, id := range g.order {
		m := g.members[id]
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = m.rebalanceTimeout
		mv.SessionTimeoutMillis = m.sessionTimeout
		mv.Subscription = m.metadata(g.protocol)
		mv.Assignment = assignment[m.id]
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	return v.AppendTo(nil)
}

// loadedGroup is what replaying one partition yields for one group.
type loadedGroup struct {
	meta       *kmsg.GroupMetadataValue // nil: offsets only (a simple consumer group)
	offsets    map[topicPartition]offsetEntry
	pendingTxn map[int64]map[topicPartition]offsetEntry // by producer id, waiting for its marker
}

func (lg *loadedGroup) empty() bool {
	return lg.meta == nil && len(lg.offsets) == 0 && len(lg.pendingTxn) == 0
}

// loader rebuilds groups from __consumer_offsets records: the last record of a key wins, a
// tombstone deletes. A transactional batch's offsets are held by producer until the producer's
// marker: a commit marker applies them (unless a later regular commit of the same partition is
// already loaded), an abort marker drops them, and a replay ending without the marker leaves them
// pending (Kafka's doLoadGroupsAndOffsets).
type loader struct {
	groups map[string]*loadedGroup
	// producers is, for each producer with pending offsets, the groups that hold them.
	producers map[int64]map[string]bool
}

func newLoader() *loader {
	return &loader{groups: map[string]*loadedGroup{}, producers: map[int64]map[string]bool{}}
}

func (l *loader) get(id string) *loadedGroup {
	lg := l.groups[id]
	if lg == nil {
		lg = &loadedGroup{offsets: map[topicPartition]offsetEntry{}, pendingTxn: map[int64]map[topicPartition]offsetEntry{}}
		l.groups[id] = lg
	}
	return lg
}

// Control record types of a transaction marker (Kafka's ControlRecordType).
const (
	controlAbort  = 0
	controlCommit = 1
)

// parseControlKey decodes a control record key: version int16, type int16. ok is false for a
// key too short to hold both.
func parseControlKey(key []byte) (typ int16, ok bool) {
	if len(key) < 4 {
		return 0, false
	}
	return int16(key[2])<<8 | int16(key[3]), true
}

// marker applies a transaction marker of producer pid to the offsets it holds pending.
func (l *loader) marker(pid int64, commit bool) {
	for id := range l.producers[pid] {
		lg := l.groups[id]
		if commit {
			for tp, e := range lg.pendingTxn[pid] {
				if cur, ok := lg.offsets[tp]; !ok || cur.logOffset < e.logOffset {
					lg.offsets[tp] = e
				}
			}
		}
		delete(lg.pendingTxn, pid)
	}
	delete(l.producers, pid)
}

// add applies one record. Records with an unknown key version are skipped, as Kafka does.
func (l *loader) add(r Record) error {
	if r.Control {
		typ, ok := parseControlKey(r.Key)
		switch {
		case !ok:
			return fmt.Errorf("%w: control record key of %d bytes", ErrBadRecord, len(r.Key))
		case typ == controlCommit || typ == controlAbort:
			l.marker(r.ProducerID, typ == controlCommit)
		}
		return nil // other control records (none are written here) are not markers
	}
	if len(r.Key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(r.Key))
	}
	switch version := int16(r.Key[0])<<8 | int16(r.Key[1]); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("%w: offset commit key: %v", ErrBadRecord, err)
		}
		tp := topicPartition{k.Topic, k.Partition}
		if r.Value == nil {
			if lg := l.groups[k.Group]; lg != nil {
				if r.Transactional {
					delete(lg.pendingTxn[r.ProducerID], tp)
					return nil
				}
				// A regular tombstone (DeleteGroups, OffsetDelete, expiry) also drops the key's
				// pending transactional offsets, as the coordinator did in memory when it wrote it.
				delete(lg.offsets, tp)
				for pid, offs := range lg.pendingTxn {
					if delete(offs, tp); len(offs) == 0 {
						delete(lg.pendingTxn, pid)
					}
				}
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("%w: offset commit value: %v", ErrBadRecord, err)
		}
		o := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: v.CommitTimestamp, expireTime: -1, logOffset: r.Offset}
		if v.Version >= 3 {
			o.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			o.expireTime = v.ExpireTimestamp
		}
		lg := l.get(k.Group)
		if !r.Transactional {
			lg.offsets[tp] = o
			return nil
		}
		offs := lg.pendingTxn[r.ProducerID]
		if offs == nil {
			offs = map[topicPartition]offsetEntry{}
			lg.pendingTxn[r.ProducerID] = offs
		}
		offs[tp] = o
		if l.producers[r.ProducerID] == nil {
			l.producers[r.ProducerID] = map[string]bool{}
		}
		l.producers[r.ProducerID][k.Group] = true
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("%w: group metadata key: %v", ErrBadRecord, err)
		}
		if r.Value == nil {
			if lg := l.groups[k.Group]; lg != nil {
				lg.meta = nil
			}
			return nil
		}
		v := new(kmsg.GroupMetadataValue)
		if err := v.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("%w: group metadata value: %v", ErrBadRecord, err)
		}
		l.get(k.Group).meta = v
	}
	return nil
}

// errorCode turns a Store error into a Kafka error code.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, context.Canceled):
		return kerr.NotCoordinator.Code
	}
	return kerr.UnknownServerError.Code
}

// storeGroupError maps an append error of group metadata as Kafka's storeGroup does.
func storeGroupError(err error) int16 {
	switch c := errorCode(err); c {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.RequestTimedOut.Code:
		return kerr.RebalanceInProgress.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.UnknownServerError.Code
	default:
		return c
	}
}

// storeOffsetsError maps an append error of offset commits as Kafka's storeOffsets does.
func storeOffsetsError(err error) int16 {
	switch c := errorCode(err); c {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.InvalidCommitOffsetSize.Code
	default:
		return c
	}
}
