package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runExpectFailure runs minikraft with args and expects it to exit non-zero within the timeout,
// with a message containing want on its last line.
func runExpectFailure(t *testing.T, timeout time.Duration, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, binPath, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("minikraft %v did not stop within %v:\n%s", args, timeout, out)
	}
	if err == nil {
		t.Fatalf("minikraft %v exited 0:\n%s", args, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, want) {
		t.Fatalf("minikraft %v: last line %q, want it to mention %q\n%s", args, last, want, out)
	}
}

// TestBadStartupInput: each of these refuses to start with one clear line.
func TestBadStartupInput(t *testing.T) {
	dir := t.TempDir()
	p, cp := freePort(t), freePort(t)
	listeners := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p, cp)
	self := fmt.Sprintf("0@127.0.0.1:%d", cp)
	base := func(extra ...string) []string {
		return append([]string{"--node-id", "0", "--listeners", listeners, "--data-dir", filepath.Join(dir, "d")}, extra...)
	}
	t.Run("malformed voters", func(t *testing.T) {
		runExpectFailure(t, 10*time.Second, "controller.quorum.voters", base("--voters", "zero@host")...)
	})
	t.Run("node twice in voters", func(t *testing.T) {
		runExpectFailure(t, 10*time.Second, "controller.quorum.voters", base("--voters", self+","+self)...)
	})
	t.Run("node not in voters", func(t *testing.T) {
		runExpectFailure(t, 10*time.Second, "controller.quorum.voters", base("--voters", "1@127.0.0.1:1")...)
	})
	t.Run("port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		runExpectFailure(t, 10*time.Second, "address already in use", base("--voters", self)...)
	})
	t.Run("data dir of another node", func(t *testing.T) {
		n := &node{t: t, args: base("--voters", self), dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", p)}
		n.start()
		n.stop()
		other := fmt.Sprintf("1@127.0.0.1:%d", cp)
		runExpectFailure(t, 10*time.Second, "belongs to node.id 0",
			"--node-id", "1", "--listeners", listeners, "--data-dir", filepath.Join(dir, "d"), "--voters", other)
	})
	t.Run("data dir of another cluster", func(t *testing.T) {
		runExpectFailure(t, 10*time.Second, "belongs to cluster", base("--voters", self, "--cluster-id", "another-cluster-id-000")...)
	})
	t.Run("bad property value", func(t *testing.T) {
		runExpectFailure(t, 10*time.Second, "num.partitions", base("--voters", self, "--config", "num.partitions=0")...)
	})
}

// TestPeerOfAnotherCluster: a node started with another cluster id than its voters' stops with
// one clear line instead of waiting forever for a quorum it cannot join.
func TestPeerOfAnotherCluster(t *testing.T) {
	c := startCluster(t, 3, "--cluster-id", "cluster-a-000000000000")
	c.nodes[2].kill()
	args := append([]string{}, c.nodes[2].args...)
	for i, a := range args {
		if a == "cluster-a-000000000000" {
			args[i] = "cluster-b-000000000000"
		}
		if a == "--data-dir" {
			args[i+1] = filepath.Join(t.TempDir(), "fresh")
		}
	}
	runExpectFailure(t, 30*time.Second, "belongs to cluster", args...)
	// The two nodes of the right cluster must not stop because a peer was misconfigured: they
	// keep their quorum and still create topics.
	for _, n := range c.nodes[:2] {
		if !n.running() {
			t.Fatalf("node at %s stopped because of a peer of another cluster:\n%s", n.addr, n.output())
		}
	}
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr))
	eventually(t, 15*time.Second, "topic creation on the two remaining nodes", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r, err := adm.CreateTopic(ctx, 1, 2, nil, "still-serving")
		return err == nil && (r.Err == nil || strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS"))
	})
}
