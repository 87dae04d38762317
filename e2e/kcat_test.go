package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcat runs kcat with args and stdin, failing the test on error.
func kcat(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	bin := need(t, "kcat", "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// kcatConsumeAll reads a topic from the beginning to its end and returns key:value lines.
func kcatConsumeAll(t testing.TB, addr, topic string) []string {
	out := kcat(t, nil, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\n")
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func checkRecords(t testing.TB, lines []string, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("read %d records, want %d", len(lines), n)
	}
	seen := make(map[string]bool, n)
	for _, l := range lines {
		if seen[l] {
			t.Fatalf("record %q read twice", l)
		}
		seen[l] = true
	}
	for i := 0; i < n; i++ {
		if want := fmt.Sprintf("key-%d:value-%d", i, i); !seen[want] {
			t.Fatalf("record %q missing", want)
		}
	}
}

// TestKcatThousandRecordsSurviveRestart: kcat produces 1000 keyed records to an auto-created
// topic and reads all 1000 back, after a clean restart and after a kill -9.
func TestKcatThousandRecordsSurviveRestart(t *testing.T) {
	n := startSingle(t, "--config", "num.partitions=3")
	var in bytes.Buffer
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&in, "key-%d:value-%d\n", i, i)
	}
	kcat(t, in.Bytes(), "-b", n.addr, "-P", "-t", "thousand", "-K", ":", "-X", "acks=all")
	checkRecords(t, kcatConsumeAll(t, n.addr, "thousand"), 1000)

	n.stop()
	n.restart()
	checkRecords(t, kcatConsumeAll(t, n.addr, "thousand"), 1000)

	n.kill()
	n.restart()
	checkRecords(t, kcatConsumeAll(t, n.addr, "thousand"), 1000)

	// kcat's metadata listing shows the broker and the topic's three partitions.
	meta := kcat(t, nil, "-b", n.addr, "-L", "-t", "thousand")
	if !strings.Contains(meta, "1 brokers") || !strings.Contains(meta, "3 partitions") {
		t.Fatalf("kcat -L:\n%s", meta)
	}
}
