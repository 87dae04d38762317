package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// minikraft's additions to Kafka's control plane. The brokers speak Kafka's own KRaft APIs to
// the controllers (BrokerRegistration, BrokerHeartbeat, AlterPartition, the forwarded admin
// requests...), decoded by kmsg like every client API; what Kafka's messages cannot say travels
// in tagged fields of our own (KIP-482: a peer that does not know a tag skips it), and the one
// call Kafka has no API for, a broker-only node's pull of the metadata, is MetadataFetch below.
// This file is the one place both are defined.

// Tagged fields of minikraft's own on Kafka's flexible control messages. Kafka numbers its tags
// from 0 and has not gone past a handful; ours start at 10000 so that they never meet.
const (
	// TagMetadataIndex, on the response to any control request, is the Raft index of the
	// controller's metadata when it answered (so it includes the change it made): the caller
	// waits until its own metadata has applied that index before it answers its client, so the
	// client's next request to the same broker sees the change. On a BrokerHeartbeat request it
	// is the metadata index the broker's partitions are reconciled with (its applied index),
	// which metadata-changing requests wait for (broker/propagation.go). A uint64, 8 bytes
	// big-endian.
	TagMetadataIndex uint32 = 10000
	// TagRaftLogOffset, on a BrokerHeartbeat request, says that CurrentMetadataOffset is the
	// end of the sender's Raft log (a voter); without it, it is the index of the last command
	// the sender applied (a broker-only observer). DescribeQuorum reports them differently.
	// Present means true; the value is empty.
	TagRaftLogOffset uint32 = 10001
)

// SetUint64Tag sets tag key to v, 8 bytes big-endian.
func SetUint64Tag(t *kmsg.Tags, key uint32, v uint64) {
	t.Set(key, binary.BigEndian.AppendUint64(nil, v))
}

// Uint64Tag reads tag key as set by SetUint64Tag; ok is false if it is absent or not 8 bytes.
func Uint64Tag(t *kmsg.Tags, key uint32) (v uint64, ok bool) {
	t.Each(func(k uint32, val []byte) {
		if k == key && len(val) == 8 {
			v, ok = binary.BigEndian.Uint64(val), true
		}
	})
	return v, ok
}

// HasTag reports whether tag key is present.
func HasTag(t *kmsg.Tags, key uint32) bool {
	found := false
	t.Each(func(k uint32, _ []byte) { found = found || k == key })
	return found
}

// MetadataFetchKey is the API key of MetadataFetch, outside the range Kafka allocates its keys
// from (0 up, below 100 today), so that no Kafka API can ever take it.
const MetadataFetchKey int16 = 10000

// MetadataFetchRequest is a broker-only node's pull of the cluster metadata from a controller
// (a voter). Kafka's brokers Fetch the __cluster_metadata log from the quorum instead; minikraft
// has no such log to fetch (hashicorp/raft keeps it), so a voter answers with its whole State
// once that is newer than After, or after MaxWaitMillis with none (a long poll). Version 0 only,
// not flexible:
//
//	MetadataFetchRequest  => After:int64 MaxWaitMillis:int32
//	MetadataFetchResponse => ErrorCode:int16 ErrorMessage:nullable_string LeaderID:int32
//	                         LeaderAddr:string State:nullable_bytes
type MetadataFetchRequest struct {
	Version       int16
	After         uint64 // the Raft index of the State the caller has (0: none)
	MaxWaitMillis int32  // how long the voter may wait for a newer State
}

// MetadataFetchResponse is the answer to a MetadataFetchRequest.
type MetadataFetchResponse struct {
	Version      int16
	ErrorCode    int16
	ErrorMessage *string
	LeaderID     int32  // the Raft leader (the active controller) as the voter knows it; -1 none
	LeaderAddr   string // its CONTROLLER listener address
	State        []byte // the encoded State (raftmeta.MarshalState); nil when none is newer
}

// NewMetadataFetchRequest returns a v0 request.
func NewMetadataFetchRequest() *MetadataFetchRequest { return &MetadataFetchRequest{} }

func (*MetadataFetchRequest) Key() int16           { return MetadataFetchKey }
func (*MetadataFetchRequest) MaxVersion() int16    { return 0 }
func (r *MetadataFetchRequest) SetVersion(v int16) { r.Version = v }
func (r *MetadataFetchRequest) GetVersion() int16  { return r.Version }
func (*MetadataFetchRequest) IsFlexible() bool     { return false }

func (r *MetadataFetchRequest) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt64(dst, int64(r.After))
	return kbin.AppendInt32(dst, r.MaxWaitMillis)
}

func (r *MetadataFetchRequest) ReadFrom(src []byte) error {
	b := kbin.Reader{Src: src}
	r.After = uint64(b.Int64())
	r.MaxWaitMillis = b.Int32()
	if err := b.Complete(); err != nil {
		return fmt.Errorf("MetadataFetchRequest: %w", err)
	}
	return nil
}

func (r *MetadataFetchRequest) ResponseKind() kmsg.Response {
	return &MetadataFetchResponse{Version: r.Version, LeaderID: -1}
}

func (*MetadataFetchResponse) Key() int16           { return MetadataFetchKey }
func (*MetadataFetchResponse) MaxVersion() int16    { return 0 }
func (r *MetadataFetchResponse) SetVersion(v int16) { r.Version = v }
func (r *MetadataFetchResponse) GetVersion() int16  { return r.Version }
func (*MetadataFetchResponse) IsFlexible() bool     { return false }

func (r *MetadataFetchResponse) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, r.ErrorCode)
	dst = kbin.AppendNullableString(dst, r.ErrorMessage)
	dst = kbin.AppendInt32(dst, r.LeaderID)
	dst = kbin.AppendString(dst, r.LeaderAddr)
	return kbin.AppendNullableBytes(dst, r.State)
}

func (r *MetadataFetchResponse) ReadFrom(src []byte) error {
	b := kbin.Reader{Src: src}
	r.ErrorCode = b.Int16()
	r.ErrorMessage = b.NullableString()
	r.LeaderID = b.Int32()
	r.LeaderAddr = b.String()
	r.State = b.NullableBytes()
	if err := b.Complete(); err != nil {
		return fmt.Errorf("MetadataFetchResponse: %w", err)
	}
	return nil
}

func (r *MetadataFetchResponse) RequestKind() kmsg.Request {
	return &MetadataFetchRequest{Version: r.Version}
}

// requestForKey is kmsg.RequestForKey plus minikraft's own request types.
func requestForKey(key int16) kmsg.Request {
	if key == MetadataFetchKey {
		return NewMetadataFetchRequest()
	}
	return kmsg.RequestForKey(key)
}

// nameForKey is kmsg.NameForKey plus minikraft's own request types.
func nameForKey(key int16) string {
	if key == MetadataFetchKey {
		return "MetadataFetch"
	}
	return kmsg.NameForKey(key)
}
