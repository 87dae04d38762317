package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// docker runs a docker command, failing the test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDockerIsolatedNode cuts a real node off the network (docker network disconnect: no
// traffic to or from the other nodes, nor from clients) in the seed's three-node compose
// cluster. acks=all writes through the two others go on once the controller has fenced it and
// moved its leaderships (the default 9 s session); when it is reconnected it catches up and
// rejoins every ISR, and every acknowledged record is read back.
func TestDockerIsolatedNode(t *testing.T) {
	needDocker(t)
	needKafkaPython(t)
	needPortsFree(t, 9094, 9095, 9096, 8080) // 8080: the ui service (minikraft console)
	buildImage(t)

	nodes := []string{"kafka-0", "kafka-1", "kafka-2"}
	p := startCompose(t, "docker-compose.yml")
	p.waitHealthy(2*time.Minute, nodes...)
	ctx := flowContext(t, 6*time.Minute)
	waitMetadataBrokers(t, ctx, "127.0.0.1:9094", 3)
	runPython(t, createTopicScript(3, 2), 60*time.Second)
	want := produceAcksAllMessages(t, ctx, "127.0.0.1:9094", 10)

	network := p.name + "_default"
	victim := p.container("kafka-1")
	docker(t, "network", "disconnect", network, victim)
	start := time.Now()
	for _, addr := range []string{"127.0.0.1:9094", "127.0.0.1:9096"} {
		want = append(want, produceAcksAllMessages(t, ctx, addr, 30)...)
	}
	t.Logf("60 acks=all writes with kafka-1 cut off took %v", time.Since(start).Round(10*time.Millisecond))
	waitMessagesISR(t, ctx, "127.0.0.1:9094", "kafka-1 out of every ISR", func(isr []int32) bool { return !slices.Contains(isr, 1) })
	readMessages(t, ctx, "127.0.0.1:9094", want...)

	docker(t, "network", "connect", "--alias", "kafka-1", network, victim)
	waitMessagesFullISR(t, ctx, "127.0.0.1:9094", 3)
	readMessages(t, ctx, "127.0.0.1:9095", want...)
}
