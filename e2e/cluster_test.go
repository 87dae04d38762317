package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// procCluster is a cluster of minikraft processes on loopback.
type procCluster struct {
	nodes []*node
}

// clusterTimeouts are the liveness settings the multi-process tests run with: a dead broker is
// fenced within about 2 s, a stuck follower leaves the ISR within 2 s.
var clusterTimeouts = []string{
	"--config", "broker.session.timeout.ms=2000",
	"--config", "broker.heartbeat.interval.ms=250",
	"--config", "replica.lag.time.max.ms=2000",
	"--config", "controller.quorum.election.timeout.ms=500",
}

// startCluster runs n processes, each broker and controller, with the voters on free ports.
func startCluster(t testing.TB, n int, extra ...string) *procCluster {
	t.Helper()
	dir := t.TempDir()
	type ports struct{ client, ctrl int }
	ps := make([]ports, n)
	var voters []string
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t)}
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ps[i].ctrl))
	}
	c := &procCluster{}
	for i := range ps {
		args := []string{
			"--node-id", fmt.Sprint(i),
			"--voters", strings.Join(voters, ","),
			"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ps[i].client, ps[i].ctrl),
			"--data-dir", filepath.Join(dir, fmt.Sprint("node-", i)),
		}
		args = append(args, clusterTimeouts...)
		args = append(args, extra...)
		c.nodes = append(c.nodes, &node{t: t, args: args, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", ps[i].client)})
	}
	// Start all at once: a node waits for a quorum before it serves.
	for _, nd := range c.nodes {
		nd.startNoWait()
		t.Cleanup(nd.stop)
	}
	for _, nd := range c.nodes {
		nd.waitReady()
	}
	c.waitBrokers(t, n)
	return c
}

func (c *procCluster) addrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr)
	}
	return out
}

// waitBrokers waits until every running node lists want brokers in Metadata.
func (c *procCluster) waitBrokers(t testing.TB, want int) {
	t.Helper()
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		eventually(t, 30*time.Second, "all brokers registered at "+n.addr, func() bool {
			cl := newClient(t, n.addr)
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			return err == nil && len(m.Brokers) == want
		})
	}
}

// TestThreeProcessesAgree: three processes from --voters agree on brokers and topics; kcat -L
// against any node lists all three brokers; a topic created through one node is served by all.
func TestThreeProcessesAgree(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, c.nodes[1].addr))
	if r, err := adm.CreateTopic(ctx, 3, 3, nil, "agreed"); err != nil || r.Err != nil {
		t.Fatalf("create through node 1: %v %v", err, r.Err)
	}
	// CreateTopics answers once the controller has committed the topic; like Kafka's brokers,
	// the other nodes learn it from the metadata log a moment later, so each is given a while.
	for _, n := range c.nodes {
		var out string
		ok := eventuallyOK(10*time.Second, func() bool {
			out = kcat(t, nil, "-b", n.addr, "-L", "-t", "agreed")
			return strings.Contains(out, "3 brokers") && strings.Contains(out, `topic "agreed" with 3 partitions`)
		})
		if !ok {
			t.Fatalf("kcat -L at %s:\n%s", n.addr, out)
		}
	}
}

// TestKillAnyNodeMetadataContinues: kill -9 each node in turn (the Raft leader among them);
// the other two still create topics within seconds, and the restarted node catches up.
func TestKillAnyNodeMetadataContinues(t *testing.T) {
	c := startCluster(t, 3)
	for i, victim := range c.nodes {
		victim.kill()
		other := c.nodes[(i+1)%3]
		adm := kadm.NewClient(newClient(t, other.addr))
		name := fmt.Sprint("after-kill-", i)
		start := time.Now()
		eventually(t, 15*time.Second, "topic creation with node "+fmt.Sprint(i)+" down", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			r, err := adm.CreateTopic(ctx, 1, 2, nil, name)
			return err == nil && (r.Err == nil || strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS"))
		})
		t.Logf("node %d killed: topic created after %v", i, time.Since(start).Round(time.Millisecond))
		victim.restart()
		eventually(t, 15*time.Second, "restarted node sees the topic", func() bool {
			out := kcat(t, nil, "-b", victim.addr, "-L", "-t", name)
			return strings.Contains(out, `topic "`+name+`" with 1 partitions`)
		})
	}
}

// TestBrokerOnlyNode: a fourth process with process.roles=broker follows the metadata of the
// three controllers without being a Raft voter, registers, leads and replicates partitions.
func TestBrokerOnlyNode(t *testing.T) {
	c := startCluster(t, 3)
	var voters string
	for i, a := range c.nodes[0].args {
		if a == "--voters" {
			voters = c.nodes[0].args[i+1]
		}
	}
	port := freePort(t)
	b := &node{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", port), args: append([]string{
		"--node-id", "3", "--process-roles", "broker", "--voters", voters,
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
		"--data-dir", filepath.Join(t.TempDir(), "broker-only"),
	}, clusterTimeouts...)}
	b.start()
	t.Cleanup(b.stop)
	c.nodes = append(c.nodes, b)
	c.waitBrokers(t, 4)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, b.addr))
	if r, err := adm.CreateTopic(ctx, 4, 4, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "four"); err != nil || r.Err != nil {
		t.Fatalf("create through the broker-only node: %v %v", err, r.Err)
	}
	prod := newClient(t, b.addr, kgo.DefaultProduceTopic("four"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := 0; i < 100; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out := kcat(t, nil, "-b", c.nodes[0].addr, "-L", "-t", "four")
	if !strings.Contains(out, "4 brokers") || !strings.Contains(out, "leader 3") {
		t.Fatalf("the broker-only node is not serving:\n%s", out)
	}
}
