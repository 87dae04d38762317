package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/raftmeta"
)

// Control calls are the brokers' requests to the active controller (the Raft leader): broker
// registration and heartbeats, and every metadata change a client asked some broker for
// (create and delete topics, partitions, configs, producer ids). Kafka forwards such requests to
// its active controller (KIP-590); minikraft does the same over the CONTROLLER listener, on
// connections tagged raftmeta.TagControl.
//
// The format is deliberately small: each call is one frame (a 4-byte big-endian length and a
// JSON object {"op": ..., "body": ...}), each answer one frame {"index", "result", "code", "msg"}.
// A Kafka error crosses as its code and message, so the broker that forwarded the call answers
// its client exactly as the controller would have. The answer carries the Raft index of the
// change; the caller waits until its own metadata has applied that index before answering its
// client, so the client's next request to the same broker already sees the change. A request
// that changed the metadata then makes one more call, await_applied, for the controller to wait
// until every live broker has applied it too (propagation.go), so that the other brokers see it
// as well.

const (
	opCreateTopic      = "create_topic"
	opDeleteTopic      = "delete_topic"
	opCreatePartitions = "create_partitions"
	opAlterConfigs     = "alter_configs"
	opAllocatePIDs     = "allocate_producer_ids"
	opRegisterBroker   = "register_broker"
	opHeartbeat        = "heartbeat"
	opShutdownBroker   = "shutdown_broker"
	opAlterPartition   = "alter_partition"
	opElectLeader      = "elect_leader"
	opFetchMetadata    = "fetch_metadata"
	opDescribeQuorum   = "describe_quorum"
	opReassign         = "reassign"
	opReassignments    = "list_reassignments"
	opAwaitApplied     = "await_applied"
)

// maxControlFrame bounds a control frame: metadata requests are small, and the peer is another
// node of the cluster, but a broken peer must not make us allocate gigabytes.
const maxControlFrame = 16 << 20

type controlRequest struct {
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body"`
}

type controlResponse struct {
	Index  uint64          `json:"index"`
	Result json.RawMessage `json:"result,omitempty"`
	Code   int16           `json:"code,omitempty"`
	Msg    string          `json:"msg,omitempty"`
}

type createTopicCall struct {
	Spec         controller.TopicSpec
	ValidateOnly bool
}

type createPartitionsCall struct {
	Topic        string
	Total        int32
	Assignment   [][]int32
	ValidateOnly bool
}

type reassignCall struct {
	Topic     string
	Partition int32
	Target    []int32 // nil: cancel
}

type heartbeatCall struct {
	ID             int32
	Incarnation    [16]byte
	MetadataOffset int64  // how far this node's metadata goes (KRaft's CurrentMetadataOffset)
	RaftLog        bool   // MetadataOffset is a Raft log index (a voter), else an applied command's
	Applied        uint64 // the metadata index this broker's partitions are reconciled with
}

// awaitAppliedCall asks the controller to wait, up to WaitMillis, until every live broker has
// applied the metadata up to Index (see propagation.go).
type awaitAppliedCall struct {
	Index      uint64
	WaitMillis int64
}

// remoteError is a Kafka error that came back from the controller.
type remoteError struct {
	code int16
	msg  string
}

func (e *remoteError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return kerr.ErrorForCode(e.code).Error()
}

func (e *remoteError) Unwrap() error { return kerr.ErrorForCode(e.code) }

// control runs a controller operation on the active controller, here or forwarded, retrying
// while leadership moves, until ctx ends. out, if not nil, receives the JSON result.
func (b *Broker) control(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("broker: encoding %s: %w", op, err)
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 250*time.Millisecond)):
			case <-ctx.Done():
				if lastErr == nil {
					lastErr = ctx.Err()
				}
				return fmt.Errorf("%w: %v", kerr.RequestTimedOut, lastErr)
			}
		}
		var resp controlResponse
		if b.meta.IsLeader() {
			resp = b.serveControlCall(ctx, controlRequest{Op: op, Body: body})
		} else {
			_, addr, ok := b.meta.Leader()
			if !ok {
				lastErr = errors.New("no controller is known")
				continue
			}
			resp, err = b.callRemote(ctx, addr, controlRequest{Op: op, Body: body})
			if err != nil {
				if b.peerOfAnotherCluster(err) && !b.joined.Load() {
					return err
				}
				lastErr = err
				continue
			}
		}
		if resp.Code == kerr.NotController.Code {
			lastErr = &remoteError{resp.Code, resp.Msg}
			continue
		}
		if resp.Code != 0 {
			return &remoteError{resp.Code, resp.Msg}
		}
		if err := b.meta.WaitForIndex(ctx, resp.Index); err != nil {
			return fmt.Errorf("%w: waiting for the change to be applied here: %v", kerr.RequestTimedOut, err)
		}
		if out != nil && len(resp.Result) > 0 {
			if err := json.Unmarshal(resp.Result, out); err != nil {
				return fmt.Errorf("broker: decoding %s result: %w", op, err)
			}
		}
		return nil
	}
}

// callRemote makes one control call to the controller at addr.
func (b *Broker) callRemote(ctx context.Context, addr string, req controlRequest) (controlResponse, error) {
	var resp controlResponse
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := raftmeta.DialTag(dctx, b.cfg.Dial, addr, raftmeta.TagControl, b.clusterID())
	if err != nil {
		return resp, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := writeControlFrame(c, req); err != nil {
		return resp, err
	}
	err = readControlFrame(bufio.NewReader(c), &resp)
	return resp, err
}

// serveControl answers control calls from other brokers on connections from the Mux.
func (b *Broker) serveControl(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			stop := context.AfterFunc(b.ctx, func() { c.Close() })
			defer stop()
			r := bufio.NewReader(c)
			for {
				var req controlRequest
				if err := readControlFrame(r, &req); err != nil {
					if !errors.Is(err, io.EOF) && b.ctx.Err() == nil {
						b.log.Debug("control connection closed", "remote", c.RemoteAddr(), "err", err)
					}
					return
				}
				resp := b.serveControlCall(b.ctx, req)
				if err := writeControlFrame(c, resp); err != nil {
					return
				}
			}
		}()
	}
}

// controlCallTimeout bounds one controller operation on the leader.
const controlCallTimeout = 30 * time.Second

// serveControlCall runs one controller operation on this node, which must lead the quorum.
func (b *Broker) serveControlCall(ctx context.Context, req controlRequest) controlResponse {
	ctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	result, err := b.dispatchControl(ctx, req)
	resp := controlResponse{Index: b.meta.State().Index}
	if err != nil {
		if errors.Is(err, raftmeta.ErrNotLeader) {
			resp.Code = kerr.NotController.Code
		} else {
			resp.Code = errorCode(err)
		}
		if m := errorMessage(err); m != nil {
			resp.Msg = *m
		}
		return resp
	}
	if result != nil {
		resp.Result, err = json.Marshal(result)
		if err != nil {
			resp.Code, resp.Msg = kerr.UnknownServerError.Code, err.Error()
		}
	}
	return resp
}

func (b *Broker) dispatchControl(ctx context.Context, req controlRequest) (any, error) {
	decode := func(v any) error {
		if err := json.Unmarshal(req.Body, v); err != nil {
			return fmt.Errorf("%w: control call %s: %v", kerr.InvalidRequest, req.Op, err)
		}
		return nil
	}
	if req.Op == opFetchMetadata { // any voter serves the metadata
		var in fetchMetadataCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return b.serveFetchMetadata(ctx, in)
	}
	if b.ctrl == nil || !b.meta.IsLeader() {
		return nil, raftmeta.ErrNotLeader
	}
	switch req.Op {
	case opCreateTopic:
		var in createTopicCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return b.ctrl.CreateTopic(ctx, in.Spec, in.ValidateOnly)
	case opDeleteTopic:
		var name string
		if err := decode(&name); err != nil {
			return nil, err
		}
		return nil, b.ctrl.DeleteTopic(ctx, name)
	case opCreatePartitions:
		var in createPartitionsCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return nil, b.ctrl.CreatePartitions(ctx, in.Topic, in.Total, in.Assignment, in.ValidateOnly)
	case opAlterConfigs:
		var in raftmeta.AlterConfigs
		if err := decode(&in); err != nil {
			return nil, err
		}
		return nil, b.ctrl.AlterConfigs(ctx, in)
	case opAllocatePIDs:
		var n int64
		if err := decode(&n); err != nil {
			return nil, err
		}
		return b.ctrl.AllocateProducerIDs(ctx, n)
	case opRegisterBroker:
		var in raftmeta.Broker
		if err := decode(&in); err != nil {
			return nil, err
		}
		return b.ctrl.RegisterBroker(ctx, in, time.Now())
	case opHeartbeat:
		var in heartbeatCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		now := time.Now()
		if err := b.ctrl.Heartbeat(ctx, in.ID, in.Incarnation, now); err != nil {
			return nil, err
		}
		b.ctrl.MetadataProgress(in.ID, in.MetadataOffset, in.RaftLog, now)
		b.ctrl.BrokerApplied(in.ID, in.Applied)
		return nil, nil
	case opAwaitApplied:
		var in awaitAppliedCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return nil, b.awaitApplied(ctx, in)
	case opDescribeQuorum:
		return b.ctrl.DescribeQuorum(time.Now())
	case opReassign:
		var in reassignCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return nil, b.ctrl.AlterReassignment(ctx, in.Topic, in.Partition, in.Target)
	case opReassignments:
		return b.ctrl.Reassignments()
	case opAlterPartition:
		var in alterPartitionCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return nil, b.ctrl.AlterPartition(ctx, in.Topic, in.Partition, in.Leader, in.LeaderEpoch, in.PartitionEpoch, in.ISR)
	case opElectLeader:
		var in electLeaderCall
		if err := decode(&in); err != nil {
			return nil, err
		}
		return nil, b.ctrl.ElectLeader(ctx, in.Type, in.Topic, in.Partition)
	case opShutdownBroker:
		var id int32
		if err := decode(&id); err != nil {
			return nil, err
		}
		return nil, b.ctrl.ShutdownBroker(ctx, id)
	}
	return nil, fmt.Errorf("%w: unknown control call %q", kerr.InvalidRequest, req.Op)
}

func writeControlFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(frame, body...))
	return err
}

func readControlFrame(r io.Reader, v any) error {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > maxControlFrame {
		return fmt.Errorf("broker: control frame of %d bytes is over the %d limit", n, maxControlFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}
