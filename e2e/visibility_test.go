package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hasLeaders reports whether node's Metadata answer has topic with every partition led.
func hasLeaders(ctx context.Context, node *kgo.Broker, topic string) bool {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false // asking must not create it, or wait for it
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	r, err := req.RequestWith(ctx, node)
	if err != nil || len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 || len(r.Topics[0].Partitions) == 0 {
		return false
	}
	for _, p := range r.Topics[0].Partitions {
		if p.Leader < 0 {
			return false
		}
	}
	return true
}

// TestCreatedTopicVisibleOnEveryProcess measures, on three processes, how long after
// CreateTopics answers the other nodes still do not know the topic (issue 13: 12–20 ms before
// the answer waited for every broker), and requires that there is no such window. It logs the
// median and the worst over 30 topics:
//
//	go test -count=1 -v -run TestCreatedTopicVisibleOnEveryProcess ./e2e/
func TestCreatedTopicVisibleOnEveryProcess(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t)
	var nodes []*kgo.Broker
	for _, n := range c.nodes {
		nodes = append(nodes, newClient(t, n.addr).SeedBrokers()[0])
	}
	var (
		windows []time.Duration // per topic and other node: from the answer to its first Metadata with the topic
		took    []time.Duration // CreateTopics round trips: what waiting for every broker costs
		late    []string
	)
	for i := range 30 {
		topic := fmt.Sprint("visible-", i)
		via := i % 3
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 15_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 3, 3
		req.Topics = append(req.Topics, rt)
		sent := time.Now()
		resp, err := req.RequestWith(ctx, nodes[via])
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: %v %v", topic, err, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
		answered := time.Now()
		took = append(took, answered.Sub(sent))
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		for j, n := range nodes {
			if j == via {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for !hasLeaders(ctx, n, topic) {
					if ctx.Err() != nil {
						return
					}
					first = false
					time.Sleep(time.Millisecond)
				}
				d := time.Since(answered)
				mu.Lock()
				defer mu.Unlock()
				if first {
					d = 0 // known at the first ask
				} else {
					late = append(late, fmt.Sprintf("%s at node %d after %v", topic, j, d.Round(time.Microsecond)))
				}
				windows = append(windows, d)
			}()
		}
		wg.Wait()
	}
	slices.Sort(windows)
	slices.Sort(took)
	t.Logf("CreateTopics answered in: median %v, worst %v", took[len(took)/2].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond))
	t.Logf("window after CreateTopics answered, over %d topic×node pairs: median %v, worst %v, %d not known at the first ask",
		len(windows), windows[len(windows)/2].Round(time.Microsecond), windows[len(windows)-1].Round(time.Microsecond), len(late))
	if lateFrom := len(windows) - len(late); len(late) > 0 {
		t.Logf("median window of those not known at the first ask: %v", windows[lateFrom+len(late)/2].Round(time.Microsecond))
	}
	for _, l := range late {
		t.Errorf("unknown right after CreateTopics answered: %s", l)
	}
}

// threeVoters are three nodes of one cluster, not started.
func threeVoters(t *testing.T) []*node {
	dir := t.TempDir()
	var voters []string
	type ports struct{ client, ctrl int }
	ps := make([]ports, 3)
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t)}
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ps[i].ctrl))
	}
	var nodes []*node
	for i, p := range ps {
		args := append([]string{
			"--node-id", fmt.Sprint(i),
			"--voters", strings.Join(voters, ","),
			"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p.client, p.ctrl),
			"--data-dir", filepath.Join(dir, fmt.Sprint("node-", i)),
		}, clusterTimeouts...)
		nodes = append(nodes, &node{t: t, args: args, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", p.client)})
	}
	return nodes
}

// TestRF3AsSoonAsAllAccept: three processes started at once; as soon as all three client ports
// accept connections, an RF 3 topic can be created (issue 13: the ports opened ~40 ms after exec,
// but all three brokers were registered only ~1.2 s later, and the creation got
// INVALID_REPLICATION_FACTOR). A node opens its client port only once it is registered.
func TestRF3AsSoonAsAllAccept(t *testing.T) {
	nodes := threeVoters(t)
	start := time.Now()
	for _, n := range nodes {
		n.startNoWait()
		t.Cleanup(n.stop)
	}
	accepting := func(addr string) bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	for _, n := range nodes {
		eventually(t, 30*time.Second, n.addr+" accepting", func() bool { return accepting(n.addr) })
	}
	t.Logf("all three accept %v after exec", time.Since(start).Round(time.Millisecond))
	// One request to each node at once, no retries: a client that gets an answer takes it.
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 15_000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprint("rf3-at-once-", i), 3, 3
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, newClient(t, n.addr).SeedBrokers()[0])
			if err != nil {
				t.Errorf("node %d: %v", i, err)
				return
			}
			if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
				msg := ""
				if m := resp.Topics[0].ErrorMessage; m != nil {
					msg = *m
				}
				t.Errorf("RF 3 topic through node %d right after all three accept: %v: %s", i, err, msg)
			}
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		if !accepting(n.addr) {
			t.Errorf("node %d stopped accepting:\n%s", i, n.output())
		}
	}
}

// TestHealthcheckOnlyOnceRegistered: `minikraft healthcheck` reports a node unhealthy, promptly,
// while it cannot register (one voter of three, no quorum), and healthy once the others start.
func TestHealthcheckOnlyOnceRegistered(t *testing.T) {
	nodes := threeVoters(t)
	healthy := func() (bool, time.Duration) {
		start := time.Now()
		err := exec.Command(binPath, "healthcheck", nodes[0].addr).Run()
		return err == nil, time.Since(start)
	}
	nodes[0].startNoWait()
	t.Cleanup(nodes[0].stop)
	time.Sleep(time.Second) // long enough to have opened its ports, were it to open them early
	if ok, took := healthy(); ok || took > 2*time.Second {
		t.Fatalf("a node without a quorum: healthy %v, answered in %v (want unhealthy at once)", ok, took.Round(time.Millisecond))
	}
	for _, n := range nodes[1:] {
		n.startNoWait()
		t.Cleanup(n.stop)
	}
	eventually(t, 30*time.Second, "healthy once the quorum formed", func() bool { ok, _ := healthy(); return ok })
}
