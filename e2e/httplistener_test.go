package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestHTTPListener runs the binary with minikraft.http.listener, the console on it and the test
// admin endpoint: /metrics counts a produce, /readyz and `minikraft healthcheck` of it pass,
// /admin/ serves the admin endpoint and / the console, which reaches the node's own listener.
func TestHTTPListener(t *testing.T) {
	hp := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hp)
	n := startSingle(t,
		"--config", fmt.Sprintf("minikraft.http.listener=127.0.0.1:%d", hp),
		"--config", "minikraft.http.console.enable=true",
		"--test-admin-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, n.output())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 20*time.Second, "/readyz answers 200", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if out, err := exec.Command(binPath, "healthcheck", base+"/readyz").CombinedOutput(); err != nil {
		t.Errorf("healthcheck of /readyz: %v %s", err, out)
	}
	if code, _ := get("/livez"); code != http.StatusOK {
		t.Errorf("/livez: %d", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "http", Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`kafka_server_brokertopicmetrics_messagesin_total{topic="http"} 10`,
		`kafka_network_requestmetrics_requests_total{request="Produce",`,
		`kafka_controller_kafkacontroller_activecontrollercount 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, body := get("/admin/v1/state"); code != http.StatusOK || !strings.Contains(body, `"node_id"`) {
		t.Errorf("/admin/v1/state: %d %s", code, body)
	}
	if code, body := get("/topics"); code != http.StatusOK || !strings.Contains(body, "http") {
		t.Errorf("console /topics: %d %.300s", code, body)
	}
}
