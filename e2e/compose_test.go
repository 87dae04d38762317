package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the tests that run the container image under Docker Compose (docker_test.go).
// They shell out to the docker CLI and to scripts/compose.sh, the same commands the README gives
// a user, rather than to an API client: what is tested is what people type.

// imageTag is the tag scripts/build-image.sh builds and the compose files name.
const imageTag = "minikraft:dev"

// repoPath is a path in the repository; tests run in e2e/.
func repoPath(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// needDocker skips the test, loudly, when no Docker engine answers. It is the only reason these
// tests skip: a missing compose, a busy port or a failed build are failures.
func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("\n"+
		"########################################################################\n"+
		"## SKIPPED %s: NO DOCKER ENGINE IS REACHABLE.\n"+
		"## The container image and the seed's compose files were NOT tested.\n"+
		"## `docker version`: %v: %s\n"+
		"########################################################################",
		t.Name(), err, strings.TrimSpace(string(out)))
	// Skip messages show only with -v; stderr reaches a terminal in `go test` without package
	// arguments as well.
	if !testing.Verbose() {
		fmt.Fprintln(os.Stderr, msg)
	}
	t.Skip(msg)
}

// needPortsFree fails when a host port the compose file publishes is taken: Docker would fail
// the start with a less helpful message, or a stray broker would answer in ours' place.
func needPortsFree(t *testing.T, ports ...int) {
	t.Helper()
	for _, p := range ports {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err == nil {
			ln.Close()
			continue
		}
		holders, _ := exec.Command("docker", "ps", "--filter", fmt.Sprintf("publish=%d", p), "--format", "{{.Names}}").Output()
		t.Fatalf("host port %d must be free: the seed's compose files publish 9094-9096 there, but it is taken (%v).\n"+
			"Containers publishing it: %q (a leftover test project can be removed with `scripts/compose.sh -p <project> down -v`)",
			p, err, strings.TrimSpace(string(holders)))
	}
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  string
)

// buildImage runs scripts/build-image.sh once per test binary; both compose tests use the image.
func buildImage(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		cmd := exec.Command(repoPath(t, "scripts/build-image.sh"), imageTag)
		out, err := cmd.CombinedOutput()
		buildOut = strings.TrimSpace(string(out))
		if err != nil {
			buildErr = fmt.Errorf("scripts/build-image.sh: %v\n%s", err, buildOut)
			return
		}
		size, _ := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", imageTag).Output()
		fmt.Printf("image %s: %s bytes; build script took %v: %s\n", imageTag, strings.TrimSpace(string(size)),
			time.Since(start).Round(100*time.Millisecond), lastLine(buildOut))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// composeProject is one `docker compose -p <name> -f <file>` project. Its name is unique per
// run so that parallel or leftover runs never share containers or volumes.
type composeProject struct {
	t    *testing.T
	name string
	file string
}

// startCompose brings the project up and registers `down -v` (containers, network and the named
// volumes) for the end of the test, after dumping the logs when the test failed.
func startCompose(t *testing.T, file string) *composeProject {
	t.Helper()
	p := &composeProject{
		t:    t,
		name: fmt.Sprintf("minikraft-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000),
		file: repoPath(t, file),
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := p.output("logs", "--no-color", "--tail", "300"); err == nil {
				t.Logf("compose logs of %s:\n%s", p.name, out)
			}
		}
		if out, err := p.output("down", "-v", "--remove-orphans", "--timeout", "20"); err != nil {
			t.Errorf("cleaning up compose project %s: %v\n%s", p.name, err, out)
		}
	})
	p.run("up", "-d")
	return p
}

// output runs scripts/compose.sh (the plugin, or docker-compose v1) on the project.
func (p *composeProject) output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all := append([]string{"-p", p.name, "-f", p.file}, args...)
	out, err := exec.CommandContext(ctx, repoPath(p.t, "scripts/compose.sh"), all...).CombinedOutput()
	return string(out), err
}

func (p *composeProject) run(args ...string) string {
	p.t.Helper()
	out, err := p.output(args...)
	if err != nil {
		p.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// container is the id of a service's container.
func (p *composeProject) container(service string) string {
	p.t.Helper()
	id := strings.TrimSpace(p.run("ps", "-q", service))
	if id == "" || strings.Contains(id, "\n") {
		p.t.Fatalf("compose ps -q %s: want one container id, got %q", service, id)
	}
	return id
}

// waitHealthy waits until every service's container passes the image's HEALTHCHECK (the broker
// answers ApiVersions on 127.0.0.1:9092 inside it), failing at once when one has exited.
func (p *composeProject) waitHealthy(timeout time.Duration, services ...string) {
	p.t.Helper()
	start := time.Now()
	for _, s := range services {
		id := p.container(s)
		var last string
		pollEvery(p.t, timeout-time.Since(start), 250*time.Millisecond, s+" to become healthy", func() bool {
			out, err := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", id).Output()
			if err != nil {
				return false
			}
			last = strings.TrimSpace(string(out))
			if strings.HasPrefix(last, "exited") || strings.HasPrefix(last, "dead") {
				logs, _ := exec.Command("docker", "logs", "--tail", "100", id).CombinedOutput()
				p.t.Fatalf("%s stopped during start (%s):\n%s", s, last, logs)
			}
			return last == "running healthy"
		})
	}
	p.t.Logf("%v healthy after %v", services, time.Since(start).Round(100*time.Millisecond))
}

// memory returns `docker stats --no-stream` memory use of the services' containers, one line
// each, for the log and the closing note.
func (p *composeProject) memory(services ...string) string {
	p.t.Helper()
	args := []string{"stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"}
	for _, s := range services {
		args = append(args, p.container(s))
	}
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("docker stats: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// pollEvery checks cond every interval until it holds, failing the test after timeout. The compose
// waits poll far slower than eventually's 20 ms: each check execs the docker CLI.
func pollEvery(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout.Round(time.Second), what)
		}
		time.Sleep(interval)
	}
}

// runPythonUntil runs a script that does not end by itself (the seed's consumer loops forever)
// and stops it once it printed the line want, returning everything it printed. The script runs
// unchanged; -u only unbuffers its stdout so the line arrives as it is printed.
func runPythonUntil(t testing.TB, script, want string, timeout time.Duration) string {
	t.Helper()
	py := needKafkaPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-u", "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	found := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if strings.TrimSpace(sc.Text()) == want {
			found = true
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !found {
		t.Fatalf("python did not print %s within %v\nstdout:\n%s\nstderr:\n%s", want, timeout, printed.String(), stderr.String())
	}
	return printed.String()
}
