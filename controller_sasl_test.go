package minikraft_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker/security"
)

// TestControllerSASL: the controller listener on SASL_SSL (and SASL_PLAINTEXT) with PLAIN, the
// nodes logging in as the JAAS username (sasl.mechanism.controller.protocol): the quorum
// elects, the brokers register, an RF 3 topic replicates, a killed node rejoins; a peer that
// skips the SASL exchange and sends Raft's tag at once is closed without the Mux's verdict.
func TestControllerSASL(t *testing.T) {
	for _, proto := range []string{"SASL_SSL", "SASL_PLAINTEXT"} {
		t.Run(proto, func(t *testing.T) {
			ca, pem := nodePEM(t, "minikraft controller CA")
			c := minikraft.NewCluster(t, 3, append(pem,
				minikraft.WithConfig("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:"+proto),
				minikraft.WithConfig("sasl.enabled.mechanisms", "SCRAM-SHA-512"), // the clients'; the controller listener takes its own
				minikraft.WithConfig("sasl.mechanism.controller.protocol", "PLAIN"),
				minikraft.WithConfig("listener.name.controller.plain.sasl.jaas.config",
					`org.apache.kafka.common.security.plain.PlainLoginModule required username="ctl" password="ctl-pw" user_ctl="ctl-pw";`),
			)...)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			faultTopic(t, c, "ctl")
			cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("ctl"), kgo.RequiredAcks(kgo.AllISRAcks()))
			for i := range 20 {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.KillNode(1); err != nil {
				t.Fatal(err)
			}
			if err := c.RestartNode(1); err != nil {
				t.Fatalf("the killed node did not rejoin over %s: %v", proto, err)
			}
			eventuallyISR(t, c, "ctl", 3)
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "after"); err != nil {
				t.Fatalf("a topic created through the controllers after the restart: %v", err)
			}

			// A peer that logs in with a wrong password is refused with Kafka's error; one with
			// the right one reaches the Mux, which answers its tag and (foreign) cluster id.
			ctrl := controllerAddr(t, c)
			login := func(pass string) (net.Conn, error) {
				sc := &security.Client{Mechanism: "PLAIN", User: "ctl", Password: pass}
				if proto == "SASL_SSL" {
					sc.TLS = &tls.Config{RootCAs: ca.Pool()}
				}
				raw, err := net.DialTimeout("tcp", ctrl, 5*time.Second)
				if err != nil {
					return nil, err
				}
				return sc.Secure(ctx, raw, ctrl)
			}
			if _, err := login("wrong"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("wrong controller password: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			good, err := login("ctl-pw")
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			good.SetDeadline(time.Now().Add(20 * time.Second))
			good.Write([]byte("R\x05other"))
			var verdict [1]byte
			if _, err := io.ReadFull(good, verdict[:]); err != nil || verdict[0] != 1 {
				t.Fatalf("after the login the Mux answered %v, %v; want its verdict 1 (another cluster)", verdict, err)
			}

			// A Raft peer that skips SASL: its tag and cluster id are not a SaslHandshake.
			var nc net.Conn
			if proto == "SASL_SSL" {
				nc, err = tls.Dial("tcp", ctrl, &tls.Config{RootCAs: ca.Pool()})
			} else {
				nc, err = net.DialTimeout("tcp", ctrl, 5*time.Second)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			nc.Write([]byte("R\x16abcdefghijklmnopqrstuv"))
			var b [64]byte
			if n, err := nc.Read(b[:]); err == nil {
				t.Fatalf("the controller answered a peer that skipped SASL: %q", b[:n])
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the controller kept a peer that skipped SASL open")
			}
		})
	}
}

// controllerAddr is node 0's controller listener.
func controllerAddr(t *testing.T, c *minikraft.Cluster) string {
	t.Helper()
	a, ok := c.Node(0).ListenerAddr("CONTROLLER")
	if !ok {
		t.Fatal("no CONTROLLER listener")
	}
	return a.String()
}

// TestControllerSASLNoScram: SCRAM on the controller listener stops the start with a message,
// as its credentials live in the metadata the controllers serve.
func TestControllerSASLNoScram(t *testing.T) {
	c, err := minikraft.StartCluster(1, minikraft.WithDir(t.TempDir()), minikraft.Quiet(),
		minikraft.WithConfig("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"),
		minikraft.WithConfig("sasl.mechanism.controller.protocol", "SCRAM-SHA-512"),
		minikraft.WithConfig("listener.name.controller.scram-sha-512.sasl.jaas.config",
			`org.apache.kafka.common.security.scram.ScramLoginModule required username="ctl" password="ctl-pw";`))
	if err == nil {
		c.Close()
		t.Fatal("a SCRAM controller listener started")
	}
	if !strings.Contains(err.Error(), "SCRAM cannot log in to controllers") {
		t.Fatalf("error %q does not say why", err)
	}
}
