package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

const (
	nameMinikraft = "minikraft"
	nameKfake     = "kfake"
	nameCluster3  = "minikraft 3-node RF3"
)

// target is one kind of server under test.
type target struct {
	name  string
	rf    int16 // replication factor of the benchmark topics
	start func(dataDir string) (*server, error)
}

// server is one running server process. launched is taken just before the process is started,
// so the startup figure includes exec and the Go runtime's start, as a user waiting for
// `minikraft` to accept a write would see it.
type server struct {
	cmd      *exec.Cmd
	addrs    []string
	launched time.Time
	exited   chan struct{}
	out      *tailBuffer
}

// buildMinikraft builds cmd/minikraft into dir with the same toolchain that runs this command.
// By import path, so that it works from any directory inside the module.
func buildMinikraft(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "minikraft")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/minikraft/minikraft/cmd/minikraft")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build minikraft: %v\n%s", err, out)
	}
	return bin, nil
}

// minikraftBinary is the -minikraft binary, or one built into dir when none was given.
func minikraftBinary(ctx context.Context, o options, dir string) (string, error) {
	if o.minikraft != "" {
		return o.minikraft, nil
	}
	fmt.Fprintln(os.Stderr, "building minikraft ...")
	return buildMinikraft(ctx, dir)
}

// benchWork makes a run's scratch directory (named after prefix) and finds the binaries the run
// starts: minikraft's (minikraftBinary) and this one, which is re-executed for kfake and the
// other servers that are not minikraft. The caller removes work; on an error there is none.
func benchWork(ctx context.Context, o options, prefix string) (work, bin, self string, err error) {
	if work, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", "", err
	}
	if bin, err = minikraftBinary(ctx, o, work); err == nil {
		self, err = os.Executable()
	}
	if err != nil {
		os.RemoveAll(work)
		return "", "", "", err
	}
	return work, bin, self, nil
}

// freePort returns a loopback port that was free a moment ago; the server binds it itself, as a
// user's would.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startMinikraft(bin, dir string) (*server, error) {
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--node-id", "0",
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", pp, cp),
		"--voters", fmt.Sprintf("0@127.0.0.1:%d", cp),
		"--data-dir", filepath.Join(dir, "data"),
		// kfake logs nothing by default; keep minikraft's info lines out of the measurement too.
		"--log-level", "warn",
	}
	return launch(dir, []string{fmt.Sprintf("127.0.0.1:%d", pp)}, bin, args...)
}

func startKfake(self, dir string) (*server, error) {
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	return launch(dir, []string{fmt.Sprintf("127.0.0.1:%d", pp)}, self,
		"kfake-server", "-port", strconv.Itoa(pp), "-data-dir", filepath.Join(dir, "data"))
}

func launch(dir string, addrs []string, bin string, args ...string) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &server{addrs: addrs, exited: make(chan struct{}), out: &tailBuffer{max: 16 << 10}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.launched = time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	return s, nil
}

// waitListening polls the first address until it accepts a connection, so that the client's
// dial backoff never enters the startup figure.
func (s *server) waitListening(ctx context.Context) error {
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited during start: %s", s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("server not listening: %w; output: %s", ctx.Err(), s.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.addrs[0], 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

// stop asks the server to shut down cleanly and kills it after 15 s.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return fmt.Errorf("server had exited: %s", s.out.String())
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return errors.New("server did not stop within 15s of SIGTERM")
	}
}

// memory returns VmHWM (peak resident set) and VmRSS (current) of the server in bytes.
func (s *server) memory() (peak, cur int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", k, err)
		}
		if k == "VmHWM" {
			peak = kb << 10
		} else {
			cur = kb << 10
		}
	}
	return peak, cur, sc.Err()
}

// ioCalls returns the read and write system calls the server has made (syscr + syscw of
// /proc/<pid>/io: read, readv, pread, recv on sockets and files alike, and their write twins).
// epoll and futex calls are not in it, so this is the I/O share of "syscalls per request".
func (s *server) ioCalls() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "syscr" || k == "syscw") {
			x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, err
			}
			n += x
		}
	}
	return n, nil
}

// kfakeServer is the kfake-server subcommand: one kfake broker on the given port, persisting to
// the data dir, until SIGTERM. kfake.NewCluster defaults to three brokers; the comparison is with
// one node, so one port is given, which makes it one broker.
func kfakeServer(args []string) int {
	fs := flag.NewFlagSet("kfake-server", flag.ContinueOnError)
	port := fs.Int("port", 0, "listen port on 127.0.0.1")
	dir := fs.String("data-dir", "", "kfake.DataDir (persistence); empty keeps everything in memory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := []kfake.Opt{
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
		// minikraft's num.partitions default, so the startup write creates the same topic.
		kfake.DefaultNumPartitions(1),
	}
	if *dir != "" {
		opts = append(opts, kfake.DataDir(*dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake-server:", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	c.Close()
	return 0
}

// tailBuffer keeps the last max bytes a child wrote, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.b.String())
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go runs on (the kernel exports it to user space as a constant, whatever CONFIG_HZ).
const clockTicks = 100

// cpuSeconds returns the user plus system CPU time the server process has used, summed over all
// its threads (fields 14 and 15 of /proc/<pid>/stat). The three-node column runs its nodes in one
// process, so there it is the three nodes' sum.
func (s *server) cpuSeconds() (float64, error) {
	return procCPUSeconds(s.cmd.Process.Pid)
}

func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11] and f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += t
	}
	return float64(ticks) / clockTicks, nil
}
