// The many-clients phase: what 1,000 idle connections and 100 consumer groups cost one node in
// memory, and what they do to produce latency.

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// manyClients is what the phase measured.
type manyClients struct {
	rssPerConn        float64 // bytes of server RSS per idle connection
	rssPerGroup       float64 // bytes of server RSS per consumer group (one member, one commit)
	p50, p99          time.Duration
	connsOK, groupsOK bool
	latencyOK         bool
}

// settleRSS waits for the server's RSS to stop moving (a GC cycle or the scavenger running
// after a step would otherwise land in the figure) and returns it: the first of three readings
// 300 ms apart that is within 256 KiB of the one before, or the last.
func settleRSS(ctx context.Context, s *server) (int64, error) {
	var last int64 = -1
	for range 10 {
		if err := pause(ctx, 300*time.Millisecond); err != nil {
			return 0, err
		}
		_, cur, err := s.memory()
		if err != nil {
			return 0, err
		}
		if last >= 0 && max(cur-last, last-cur) < 256<<10 {
			return cur, nil
		}
		last = cur
	}
	return last, nil
}

// runManyClients opens o.idleConns connections that each send one ApiVersions request and then
// stay idle, then puts o.groups consumer groups of one member each in the Stable state with a
// committed offset (their heartbeats going on), measures the server's RSS after each step, and
// runs the latency phase with all of them present. Everything is closed on return.
func runManyClients(ctx context.Context, s *server, o options, rf int16) (*manyClients, error) {
	mc := &manyClients{}
	base, err := settleRSS(ctx, s)
	if err != nil {
		return nil, err
	}

	conns, err := openIdle(ctx, s.addrs[0], o.idleConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("idle connections: %w", err)
	}
	withConns, err := settleRSS(ctx, s)
	if err != nil {
		return nil, err
	}
	if o.idleConns > 0 {
		mc.rssPerConn, mc.connsOK = float64(withConns-base)/float64(o.idleConns), true
	}

	const groupTopic = "bench-groups"
	if err := createTopics(ctx, s.addrs, 1, rf, []string{groupTopic}); err != nil {
		return nil, err
	}
	// The groups' own client connects before the "before" reading, so its connections are not
	// counted as the groups' cost.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addrs...), kgo.RequestTimeoutOverhead(time.Minute))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return nil, err
	}
	if _, err := kmsg.NewPtrFindCoordinatorRequest().RequestWith(ctx, cl); err != nil {
		return nil, err
	}
	// OffsetCommit v10 names topics by id.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(groupTopic)}}
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata of %s: %d topics", groupTopic, len(mresp.Topics))
	}
	topicID := mresp.Topics[0].TopicID
	// Warm up with as many groups again, joined, committed and left (Empty, their offsets
	// kept), so that what the first groups pay once (the offsets topic created and its
	// partitions opened, the coordinator's code paged into RSS) is not put on every group.
	warm, err := joinGroups(ctx, cl, groupTopic, topicID, "bench-warm", o.groups)
	if err != nil {
		return nil, fmt.Errorf("warm-up groups: %w", err)
	}
	for _, m := range warm {
		m.leave(ctx, cl)
	}
	beforeGroups, err := settleRSS(ctx, s)
	if err != nil {
		return nil, err
	}
	gctx, stopHeartbeats := context.WithCancel(ctx)
	var hb sync.WaitGroup
	defer func() { stopHeartbeats(); hb.Wait() }()
	members, err := joinGroups(ctx, cl, groupTopic, topicID, "bench-group", o.groups)
	if err != nil {
		return nil, fmt.Errorf("consumer groups: %w", err)
	}
	for _, m := range members {
		hb.Add(1)
		go func() { defer hb.Done(); m.heartbeat(gctx, cl) }()
	}
	withGroups, err := settleRSS(ctx, s)
	if err != nil {
		return nil, err
	}
	if o.groups > 0 {
		mc.rssPerGroup, mc.groupsOK = float64(withGroups-beforeGroups)/float64(o.groups), true
	}
	if err := createTopics(ctx, s.addrs, o.partitions, rf, []string{"bench-latency-clients"}); err != nil {
		return nil, err
	}
	if mc.p50, mc.p99, err = latencyPhase(ctx, s.addrs, "bench-latency-clients", o.latencySize, o.rate, o.duration); err != nil {
		return nil, fmt.Errorf("latency with clients present: %w", err)
	}
	mc.latencyOK = true
	stopHeartbeats()
	hb.Wait()
	for _, m := range members {
		m.leave(ctx, cl)
	}
	return mc, nil
}

// openIdle opens n connections to addr; each sends ApiVersions v0 and reads the answer, so the
// server has done everything it does for a new connection (accept, its goroutines, its first
// request's buffers), and then says nothing more. The server's connections.max.idle.ms (10 min
// by default) is far longer than the phase.
func openIdle(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	var conns []net.Conn
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("minikraft-bench-idle"))
	req := f.AppendRequest(nil, &kmsg.ApiVersionsRequest{Version: 0}, 1)
	d := net.Dialer{Timeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return conns, err
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			return conns, err
		}
		var size [4]byte
		r := bufio.NewReader(c)
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return conns, fmt.Errorf("connection %d: ApiVersions: %w", i, err)
		}
		if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return conns, fmt.Errorf("connection %d: ApiVersions: %w", i, err)
		}
		c.SetDeadline(time.Time{})
	}
	return conns, nil
}

// member is one group's only member, after its first rebalance.
type member struct {
	group, id string
	gen       int32
}

// joinGroups makes n groups Stable, concurrently (a broker with Kafka's 3 s
// group.initial.rebalance.delay.ms holds every first join that long), each with one member that
// committed offset 0 of partition 0 of topic.
func joinGroups(ctx context.Context, cl *kgo.Client, topic string, topicID [16]byte, prefix string, n int) ([]*member, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out := make([]*member, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = joinGroup(ctx, cl, fmt.Sprintf("%s-%03d", prefix, i), topic, topicID)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func joinGroup(ctx context.Context, cl *kgo.Client, group, topic string, topicID [16]byte) (*member, error) {
	meta := (&kmsg.ConsumerMemberMetadata{Version: 0, Topics: []string{topic}}).AppendTo(nil)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = 45_000
	join.RebalanceTimeoutMillis = 60_000
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta}}
	var jr *kmsg.JoinGroupResponse
	for attempt := 0; ; attempt++ {
		var err error
		if jr, err = join.RequestWith(ctx, cl); err != nil {
			return nil, fmt.Errorf("%s: JoinGroup: %w", group, err)
		}
		if jr.ErrorCode == kerr.MemberIDRequired.Code && attempt == 0 {
			join.MemberID = jr.MemberID // v4+: join again with the id the coordinator gave
			continue
		}
		if err := kerr.ErrorForCode(jr.ErrorCode); err != nil {
			return nil, fmt.Errorf("%s: JoinGroup: %w", group, err)
		}
		break
	}
	m := &member{group: group, id: jr.MemberID, gen: jr.Generation}
	assign := (&kmsg.ConsumerMemberAssignment{Version: 0, Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: []int32{0}}}}).AppendTo(nil)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = group, m.gen, m.id
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), jr.Protocol
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: m.id, MemberAssignment: assign}}
	sr, err := sync.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(sr.ErrorCode)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: SyncGroup: %w", group, err)
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation, commit.MemberID = group, m.gen, m.id
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, TopicID: topicID, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0, LeaderEpoch: -1}}}}
	cr, err := commit.RequestWith(ctx, cl)
	if err == nil {
		for _, t := range cr.Topics {
			for _, p := range t.Partitions {
				if err = kerr.ErrorForCode(p.ErrorCode); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: OffsetCommit: %w", group, err)
	}
	return m, nil
}

// heartbeat keeps the member alive every 3 s (Kafka's default heartbeat.interval.ms) until ctx
// ends. A failed heartbeat is not retried: the phase's figures do not depend on it.
func (m *member) heartbeat(ctx context.Context, cl *kgo.Client) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.Generation, req.MemberID = m.group, m.gen, m.id
		req.RequestWith(ctx, cl)
	}
}

func (m *member) leave(ctx context.Context, cl *kgo.Client) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = m.group, m.id
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: m.id}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req.RequestWith(ctx, cl)
}
