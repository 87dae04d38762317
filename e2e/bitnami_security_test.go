package e2e

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestBitnamiScramCluster: three nodes configured only by bitnami's variables (no properties
// file, no security flags): a SASL_PLAINTEXT client listener and a SASL_PLAINTEXT inter-broker
// listener whose mechanism is SCRAM-SHA-512. The nodes create KAFKA_CLIENT_USERS' SCRAM users and
// their own inter-broker user in the metadata at start, as bitnami's kafka-storage format
// --add-scram does; franz-go then logs in with SCRAM-SHA-256 and -512 as those users, and an
// RF 3 topic's followers replicate over the SCRAM inter-broker links (every write acked by the
// full ISR). A wrong password is refused with SASL_AUTHENTICATION_FAILED.
func TestBitnamiScramCluster(t *testing.T) { bitnamiScramCluster(t, false) }

// TestBitnamiScramClusterControllerSASL is TestBitnamiScramCluster with the CONTROLLER listener
// on SASL_PLAINTEXT too: KAFKA_CONTROLLER_USER and _PASSWORD with
// KAFKA_CFG_SASL_MECHANISM_CONTROLLER_PROTOCOL=PLAIN, the nodes logging in to each other's
// controllers (Raft, registration, forwarded admin requests) as that user.
func TestBitnamiScramClusterControllerSASL(t *testing.T) { bitnamiScramCluster(t, true) }

func bitnamiScramCluster(t *testing.T, controllerSASL bool) {
	ctrlProto := "PLAINTEXT"
	if controllerSASL {
		ctrlProto = "SASL_PLAINTEXT"
	}
	type ports struct{ plain, internal, client, ctrl int }
	ps := make([]ports, 3)
	var voters []string
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t), freePort(t), freePort(t)}
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ps[i].ctrl))
	}
	dir := t.TempDir()
	var nodes []*node
	for i, p := range ps {
		env := []string{
			"KAFKA_CFG_NODE_ID=" + fmt.Sprint(i),
			"KAFKA_CFG_PROCESS_ROLES=broker,controller",
			"KAFKA_CFG_CONTROLLER_LISTENER_NAMES=CONTROLLER",
			"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
			"KAFKA_KRAFT_CLUSTER_ID=abcdefghijklmnopqrstuv",
			fmt.Sprintf("KAFKA_CFG_LISTENERS=PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,CLIENT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p.plain, p.internal, p.client, p.ctrl),
			"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT,CONTROLLER:" + ctrlProto,
			"KAFKA_CFG_INTER_BROKER_LISTENER_NAME=INTERNAL",
			"KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL=SCRAM-SHA-512",
			"KAFKA_CFG_SASL_ENABLED_MECHANISMS=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
			"KAFKA_CLIENT_USERS=alice,bob",
			"KAFKA_CLIENT_PASSWORDS=alice-secret,bob-secret",
			"KAFKA_INTER_BROKER_USER=interbroker",
			"KAFKA_INTER_BROKER_PASSWORD=interbroker-secret",
			"KAFKA_CFG_LOG_DIRS=" + filepath.Join(dir, fmt.Sprint("node-", i)),
		}
		if controllerSASL {
			env = append(env, "KAFKA_CFG_SASL_MECHANISM_CONTROLLER_PROTOCOL=PLAIN",
				"KAFKA_CONTROLLER_USER=controller_user", "KAFKA_CONTROLLER_PASSWORD=controller-secret")
		}
		nodes = append(nodes, &node{t: t, args: clusterTimeouts, env: env, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", p.plain)})
	}
	for _, nd := range nodes {
		nd.startNoWait()
		t.Cleanup(nd.stop)
	}
	for _, nd := range nodes {
		nd.waitReady()
	}
	ctx := testContext(t)
	at := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ps[i].client) }
	scram256 := kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())
	scram512 := kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism())

	// The bootstrap users exist: both mechanisms for the client users, SCRAM-SHA-512 for the
	// inter-broker user.
	d, err := kadm.NewClient(newClient(t, nodes[0].addr)).DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d["alice"].CredInfos) != 2 || len(d["bob"].CredInfos) != 2 || len(d["interbroker"].CredInfos) != 1 {
		t.Fatalf("SCRAM users: %+v", d)
	}

	adm := kadm.NewClient(newClient(t, at(1), scram256))
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "bitnami-scram"); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, at(0), "bitnami-scram", 50, scram256)
	produceConsume(t, at(2), "bitnami-scram", 50, scram512)

	// acks=all was answered, so the followers fetched over INTERNAL with SCRAM: the ISR is full.
	var isr []int32
	pollEvery(t, 20*time.Second, 100*time.Millisecond, "a full ISR", func() bool {
		md, err := adm.Metadata(ctx, "bitnami-scram")
		if err != nil {
			return false
		}
		for _, p := range md.Topics["bitnami-scram"].Partitions {
			if isr = p.ISR; len(isr) != 3 {
				return false
			}
		}
		return true
	})
	for _, nd := range nodes {
		if out := nd.output(); strings.Contains(out, "SASL_AUTHENTICATION_FAILED") {
			t.Fatalf("a node's own login failed:\n%s", out)
		}
	}

	bad := newClient(t, at(0), kgo.SASL(scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism()))
	if err := bad.Ping(ctx); err == nil || !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}
}
