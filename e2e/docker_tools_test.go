package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDockerToolsHealthcheck: in the image, Kafka's tools are on the PATH under their script
// names, so a compose healthcheck written as `kafka-topics.sh --bootstrap-server localhost:9092
// --list` in CMD form turns the container healthy, and `docker exec kafka-0 kafka-topics.sh ...`
// creates and describes a topic as with bitnami's image.
func TestDockerToolsHealthcheck(t *testing.T) {
	needDocker(t)
	buildImage(t)

	p := startCompose(t, "e2e/testdata/compose-tools-healthcheck.yml")
	p.waitHealthy(90*time.Second, "kafka-0")
	id := p.container("kafka-0")
	hc, err := exec.Command("docker", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(hc)); !strings.Contains(got, `"kafka-topics.sh"`) {
		t.Fatalf("the container's healthcheck is %s, not the compose file's kafka-topics.sh", got)
	}
	exec1 := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", append([]string{"exec", id}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker exec %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := exec1("kafka-topics.sh", "--bootstrap-server", "localhost:9092", "--create", "--topic", "tools",
		"--partitions", "3", "--config", "retention.ms=86400000"); !strings.Contains(out, "Created topic tools.") {
		t.Fatalf("kafka-topics.sh --create: %q", out)
	}
	out := exec1("kafka-topics", "--bootstrap-server", "localhost:9092", "--describe", "--topic", "tools")
	if !strings.Contains(out, "Topic: tools\tTopicId: ") || !strings.Contains(out, "PartitionCount: 3") ||
		!strings.Contains(out, "retention.ms=86400000") || strings.Count(out, "\tPartition: ") != 3 {
		t.Fatalf("kafka-topics --describe:\n%s", out)
	}
	if out := exec1("kafka-topics.sh", "--bootstrap-server", "localhost:9092", "--list"); !strings.Contains(out, "tools\n") {
		t.Fatalf("kafka-topics.sh --list: %q", out)
	}
}
