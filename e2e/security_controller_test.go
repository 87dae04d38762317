package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecureControllerTLS: three nodes whose CONTROLLER listener is SSL with client certificates
// required, so Raft's RPCs and the brokers' control calls (registration, heartbeats, forwarded
// admin requests) all run over mutual TLS: the quorum elects a leader, the brokers register,
// an RF 3 topic is created through a node that forwards it, and records replicate; a killed
// node rejoins over TLS. A client that speaks plain TCP to the controller port (a Raft peer
// without TLS) is closed without an answer.
func TestSecureControllerTLS(t *testing.T) {
	e := newSecureEnv(t)
	nodes, ps := startSecureCluster(t, e, 3,
		"--config", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SSL",
		"--config", "listener.name.controller.ssl.client.auth=required")
	addr := fmt.Sprintf("127.0.0.1:%d", ps[2].saslSSL)
	opts := []kgo.Opt{kgo.DialTLSConfig(e.tls(false)), saslPlain("alice", "alice-secret")}
	admin := kadm.NewClient(newClient(t, addr, opts...))
	eventually(t, 30*time.Second, "three brokers", func() bool {
		m, err := admin.BrokerMetadata(testContext(t))
		return err == nil && len(m.Brokers) == 3
	})
	if _, err := admin.CreateTopic(testContext(t), 3, 3, nil, "ctrl-tls"); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, addr, "ctrl-tls", 100, opts...)

	// Plain TCP on the controller port: the tag byte and cluster id are not a TLS ClientHello.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ps[0].ctrl), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	c.Write([]byte("R\x16abcdefghijklmnopqrstuv"))
	var b [64]byte
	// Without TLS the Mux would answer its verdict byte (0: same cluster, 1: another); with it,
	// the connection closes (or gets a TLS alert record, type 0x15).
	if n, err := c.Read(b[:]); err == nil && n > 0 && b[0] != 0x15 {
		t.Fatalf("the controller answered a plain TCP Raft peer: %q", b[:n])
	}

	// A node killed and restarted rejoins the quorum and its broker registers again, over TLS.
	nodes[1].kill()
	nodes[1].restart()
	eventually(t, 30*time.Second, "three brokers after the restart", func() bool {
		m, err := admin.BrokerMetadata(testContext(t))
		return err == nil && len(m.Brokers) == 3
	})
	produceConsume(t, fmt.Sprintf("127.0.0.1:%d", ps[1].saslSSL), "ctrl-tls", 100, opts...)
	for _, nd := range nodes {
		if !nd.running() {
			t.Fatalf("a node exited:\n%s", nd.output())
		}
	}
}
