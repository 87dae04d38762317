package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// binPath is the minikraft binary built once for the whole package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minikraft-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "minikraft")
	build := exec.Command("go", "build", "-o", binPath, "../cmd/minikraft")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building minikraft:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one minikraft process.
type node struct {
	t      testing.TB
	args   []string
	env    []string // added to the test's environment (bitnami's variables)
	dir    string   // working directory
	addr   string   // client address (PLAINTEXT)
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
	exits  []string // how each run of the process ended (ProcessState's words), in order
}

// freePort returns a loopback port that was free a moment ago. It picks from below the
// kernel's ephemeral range (32768 and up on Linux), so that the clients' own outgoing
// connections cannot take it between the pick and the node's bind.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := 20000 + rand.IntN(12000)
		if portsGiven[p] {
			continue // handed out already, maybe not bound yet
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// startSingle runs a one-node cluster on free loopback ports with its data in a temp dir.
func startSingle(t testing.TB, extra ...string) *node {
	t.Helper()
	dir := t.TempDir()
	pp, cp := freePort(t), freePort(t)
	args := []string{
		"--node-id", "0",
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", pp, cp),
		"--voters", fmt.Sprintf("0@127.0.0.1:%d", cp),
		"--data-dir", filepath.Join(dir, "data"),
	}
	n := &node{t: t, args: append(args, extra...), dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", pp)}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	n.t.Helper()
	n.startNoWait()
	n.waitReady()
}

// startNoWait starts the process without waiting for it to serve.
func (n *node) startNoWait() {
	n.t.Helper()
	n.cmd = exec.Command(binPath, n.args...)
	n.cmd.Dir = n.dir
	if n.env != nil {
		n.cmd.Env = append(os.Environ(), n.env...)
	}
	w := &lockedWriter{mu: &n.mu, buf: &n.out}
	n.cmd.Stdout, n.cmd.Stderr = w, w
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	w.Write(fmt.Appendf(nil, "--- minikraft started, pid %d ---\n", n.cmd.Process.Pid))
	// The exit goes into the output too, so that a node's log tells its restarts apart and
	// says how each run ended: killed by the test, or exited by itself (a panic is exit
	// status 2, a fatal error 1).
	go func(c *exec.Cmd, done chan struct{}) {
		c.Wait()
		n.mu.Lock()
		n.exits = append(n.exits, c.ProcessState.String())
		fmt.Fprintf(&n.out, "--- minikraft pid %d ended: %s ---\n", c.Process.Pid, c.ProcessState)
		n.mu.Unlock()
		close(done)
	}(n.cmd, n.exited)
}

// running reports whether the process is up.
func (n *node) running() bool {
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// waitReady polls until the broker answers Metadata with itself registered.
func (n *node) waitReady() {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			n.t.Fatalf("minikraft exited during start:\n%s", n.output())
		default:
		}
		if brokersUp(n.addr) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("minikraft at %s not ready after 20s:\n%s", n.addr, n.output())
}

func brokersUp(addr string) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return cl.Ping(ctx) == nil && len(cl.DiscoveredBrokers()) > 0
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("minikraft did not stop within 15s of SIGTERM:\n%s", n.output())
	}
}

// kill sends SIGKILL: a crash, with no clean shutdown.
func (n *node) kill() {
	n.cmd.Process.Kill()
	<-n.exited
}

func (n *node) restart() {
	n.t.Helper()
	n.start()
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out.String()
}

// tail is the last lines of the process's output (across its restarts), at most max bytes,
// for a failure's evidence: a long fault run's full log would drown the test's own.
func (n *node) tail(lines, max int) string {
	out := n.output()
	if len(out) > max {
		out = out[len(out)-max:]
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	ls := strings.SplitAfter(out, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "")
}

// exitStates is how each run of the process that has ended so far ended.
func (n *node) exitStates() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.exits)
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// need fails the test, naming the Debian package, when a client program is missing.
func need(t testing.TB, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is not installed: run `apt-get install -y %s` (./test.sh does it)", prog, pkg)
	}
	return p
}

// needKafkaPython fails unless /usr/bin/python3 can import kafka-python 2.0.2.
func needKafkaPython(t testing.TB) string {
	t.Helper()
	py := "/usr/bin/python3"
	out, err := exec.Command(py, "-c", "import kafka; print(kafka.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-python is not importable by %s: run `apt-get install -y python3-kafka` (./test.sh does it): %s", py, out)
	}
	if v := strings.TrimSpace(string(out)); v != "2.0.2" {
		t.Logf("kafka-python is %s, not the seed's 2.0.2", v)
	}
	return py
}

// runPython runs a Python script with /usr/bin/python3 and returns its stdout.
func runPython(t testing.TB, script string, timeout time.Duration) string {
	t.Helper()
	py := needKafkaPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventuallyOK(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// eventuallyOK polls cond until it holds (true) or the timeout passes (false).
func eventuallyOK(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
