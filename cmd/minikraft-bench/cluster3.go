// The three-node RF 3 column, on the root package's StartCluster.
//
// The cluster runs in-process in a child (this binary re-executed as cluster3-server), so its
// RSS is the three nodes' together and nothing else's, and its startup figure runs from exec to
// the first write acknowledged by the cluster.

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minikraft/minikraft"
)

const haveCluster = true

// startCluster3 launches the child and reads the brokers' addresses from its first stdout line.
func startCluster3(self, dir string) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &server{exited: make(chan struct{}), out: &tailBuffer{max: 16 << 10}}
	s.cmd = exec.Command(self, "cluster3-server", "-data-dir", filepath.Join(dir, "data"))
	s.cmd.Dir = dir
	s.cmd.Stderr = s.out
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.launched = time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	// Wait must not run before the pipe is read to its end, so the waiter follows the reader.
	line := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		br := bufio.NewReader(stdout)
		l, _ := br.ReadString('\n')
		line <- l
		io.Copy(s.out, br)
		close(copied)
	}()
	go func() { <-copied; s.cmd.Wait(); close(s.exited) }()
	select {
	case l := <-line:
		addrs, ok := strings.CutPrefix(strings.TrimSpace(l), "addrs ")
		if !ok {
			s.cmd.Process.Kill()
			return nil, fmt.Errorf("cluster3-server: unexpected first line %q: %s", l, s.out.String())
		}
		s.addrs = strings.Split(addrs, ",")
		return s, nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return nil, errors.New("cluster3-server did not report its addresses within 30s")
	}
}

// clusterServer is the cluster3-server subcommand: a three-node cluster until SIGTERM.
func clusterServer(args []string) int {
	fs := flag.NewFlagSet("cluster3-server", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "the nodes' data (node-0, node-1, node-2 under it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := minikraft.StartCluster(3, minikraft.WithDir(*dir), minikraft.Quiet())
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster3-server:", err)
		return 1
	}
	fmt.Println("addrs " + strings.Join(c.Addrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	c.Close()
	return 0
}

// startCluster3InProcess starts the three-node cluster in this process, for -profile.
func startCluster3InProcess(dir string) (addrs []string, stop func(), err error) {
	c, err := minikraft.StartCluster(3, minikraft.WithDir(dir), minikraft.Quiet())
	if err != nil {
		return nil, nil, err
	}
	return c.Addrs(), func() { c.Close() }, nil
}
