package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pipeline sends requests on one raw connection without waiting for their answers, as a client
// with several requests in flight does.
type pipeline struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	corr int32
	sent []kmsg.Request
}

func newPipeline(t *testing.T, addr string) *pipeline {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &pipeline{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *pipeline) send(req kmsg.Request) {
	p.t.Helper()
	buf := make([]byte, 4, 256)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len("order-test")))
	buf = append(buf, "order-test"...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if _, err := p.c.Write(buf); err != nil {
		p.t.Fatal(err)
	}
	p.corr++
	p.sent = append(p.sent, req)
}

// recv reads the answer to the oldest request not yet answered.
func (p *pipeline) recv() kmsg.Response {
	p.t.Helper()
	req := p.sent[0]
	p.sent = p.sent[1:]
	var size [4]byte
	if _, err := io.ReadFull(p.r, size[:]); err != nil {
		p.t.Fatal(err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(p.r, frame); err != nil {
		p.t.Fatal(err)
	}
	rb := kbin.Reader{Src: frame}
	rb.Int32() // correlation id: answers come in request order
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		kmsg.SkipTags(&rb)
	}
	if err := resp.ReadFrom(rb.Src); err != nil {
		p.t.Fatal(err)
	}
	return resp
}

// committedStable is group's committed offset of topic partition 0, asked with RequireStable so
// that a commit still being written is waited for rather than skipped.
func committedStable(ctx context.Context, t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 7
		req.Group = group
		req.RequireStable = true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		if err == nil {
			err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
		}
		if err == nil {
			return resp.Topics[0].Partitions[0].Offset
		}
		if !errors.Is(err, kerr.UnstableOffsetCommit) && !kerr.IsRetriable(err) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Requests of one connection take effect in the order they were sent, whatever their responses
// wait for (wire's doc). Behind a Fetch that long-polls an empty topic, one connection sends an
// OffsetCommit, a Fetch that must not wait, and a Produce. Once another client sees the Produce's
// record, the commit must be visible to it too, and the second Fetch must not have returned that
// record, which was produced after it.
func TestConnectionAppliesRequestsInOrder(t *testing.T) {
	_, addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"ordered", "idle"} {
		if r, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || r.Err != nil {
			t.Fatal(err, r.Err)
		}
	}
	const group = "ordered-group"
	// The group's coordinator is loaded before the pipeline starts.
	if got := committedStable(ctx, t, cl, group, "ordered"); got != -1 {
		t.Fatalf("committed offset before the commit: %d", got)
	}

	fetch := func(topic string, wait int32) *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.ReplicaID = -1
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = wait, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.LogStartOffset = 0, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	p := newPipeline(t, addr)
	p.send(fetch("idle", 3000)) // answers only after 3 s: nothing will be produced to it

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 7
	commit.Group, commit.Generation, commit.MemberID = group, -1, ""
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "ordered"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset, cp.LeaderEpoch = 0, 42, -1
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	p.send(commit)

	p.send(fetch("ordered", 0))

	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 7
	produce.Acks, produce.TimeoutMillis = 1, 10_000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "ordered"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = log.EncodeBatch([]log.KeyValue{{Value: []byte("after the commit")}}, time.Now().UnixMilli())
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	p.send(produce)

	// Another client waits for the record, then asks for the commit.
	for {
		ends, err := adm.ListEndOffsets(ctx, "ordered")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := ends.Lookup("ordered", 0); ok && o.Err == nil && o.Offset >= 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := committedStable(ctx, t, cl, group, "ordered"); got != 42 {
		t.Errorf("the Produce sent after the OffsetCommit is applied, but the committed offset is %d, not 42", got)
	}

	p.recv() // the idle long poll
	if r := p.recv().(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Errorf("commit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	if r := p.recv().(*kmsg.FetchResponse); len(r.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Errorf("a Fetch that did not wait returned a record produced after it (%d bytes)", len(r.Topics[0].Partitions[0].RecordBatches))
	}
	if r := p.recv().(*kmsg.ProduceResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Errorf("produce: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
}
