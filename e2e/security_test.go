package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/minikraft/minikraft/internal/testcert"
)

// secureEnv is the certificates of a secured test cluster, made by the test with Go's crypto:
// one CA, a server certificate for 127.0.0.1 (its key and chain in one PEM keystore file), and a
// client certificate for CN=alice.
type secureEnv struct {
	ca     *testcert.CA
	client *testcert.Leaf
	caFile string
	ksFile string
}

func newSecureEnv(t testing.TB) *secureEnv {
	t.Helper()
	ca, err := testcert.NewCA("minikraft test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue("minikraft", "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Issue("alice", "Tests")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &secureEnv{ca: ca, client: cl, caFile: filepath.Join(dir, "ca.pem"), ksFile: filepath.Join(dir, "keystore.pem")}
	if err := os.WriteFile(e.caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.ksFile, append(append([]byte{}, srv.KeyPEM...), srv.CertPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

const secureJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`

// secureNode is one node's ports: PLAINTEXT (the harness's readiness probe), INTERNAL (SSL with
// client certificates required: the inter-broker listener), SASL_SSL, SSL and SASL_PLAINTEXT
// for clients, CONTROLLER.
type secureNode struct{ plain, internal, saslSSL, ssl, saslPlain, ctrl int }

func (e *secureEnv) args(id int, p secureNode, voters string) []string {
	return []string{
		"--node-id", fmt.Sprint(id),
		"--voters", voters,
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d,SSL://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d",
			p.plain, p.internal, p.saslSSL, p.ssl, p.saslPlain, p.ctrl),
		"--config", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
		"--config", "inter.broker.listener.name=INTERNAL",
		"--config", "ssl.keystore.type=PEM",
		"--config", "ssl.keystore.location=" + e.ksFile,
		"--config", "ssl.truststore.type=PEM",
		"--config", "ssl.truststore.location=" + e.caFile,
		"--config", "listener.name.internal.ssl.client.auth=required",
		"--config", "listener.name.ssl.ssl.client.auth=required",
		"--config", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"--config", "listener.name.sasl_ssl.plain.sasl.jaas.config=" + secureJAAS,
		"--config", "listener.name.sasl_plaintext.plain.sasl.jaas.config=" + secureJAAS,
		"--config", "connections.max.idle.ms=5000",
	}
}

func startSecureCluster(t testing.TB, e *secureEnv, n int, extra ...string) ([]*node, []secureNode) {
	t.Helper()
	ps := make([]secureNode, n)
	var voters []string
	for i := range ps {
		ps[i] = secureNode{freePort(t), freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)}
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ps[i].ctrl))
	}
	dir := t.TempDir()
	var nodes []*node
	for i, p := range ps {
		args := append(e.args(i, p, strings.Join(voters, ",")), "--data-dir", filepath.Join(dir, fmt.Sprint("node-", i)))
		args = append(args, clusterTimeouts...)
		args = append(args, extra...)
		nodes = append(nodes, &node{t: t, args: args, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", p.plain)})
	}
	for _, nd := range nodes {
		nd.startNoWait()
		t.Cleanup(nd.stop)
	}
	for _, nd := range nodes {
		nd.waitReady()
	}
	return nodes, ps
}

func (e *secureEnv) tls(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: e.ca.Pool()}
	if withCert {
		c.Certificates = []tls.Certificate{e.client.TLS}
	}
	return c
}

func saslPlain(user, pass string) kgo.Opt {
	return kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())
}

// produceConsume writes n records to topic and reads them back, both through client opts.
func produceConsume(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx := testContext(t)
	p := newClient(t, addr, append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))...)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce over %s: %v", addr, err)
	}
	c := newClient(t, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	got := 0
	for got < n {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got += fs.NumRecords()
	}
}

// TestSecureListenersFranz: one node serving SASL_SSL, SSL (client certificates required) and
// SASL_PLAINTEXT; franz-go produces and consumes over each; wrong passwords, a mechanism not
// enabled, a PLAINTEXT client on the TLS port and a client without certificate are refused with
// Kafka's errors, promptly.
func TestSecureListenersFranz(t *testing.T) {
	e := newSecureEnv(t)
	_, ps := startSecureCluster(t, e, 1)
	p := ps[0]
	at := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
	admin := kadm.NewClient(newClient(t, at(p.saslSSL), kgo.DialTLSConfig(e.tls(false)), saslPlain("admin", "admin-secret")))
	if _, err := admin.CreateTopic(testContext(t), 1, 1, nil, "sec"); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, at(p.saslSSL), "sec", 50, kgo.DialTLSConfig(e.tls(false)), saslPlain("alice", "alice-secret"))
	produceConsume(t, at(p.ssl), "sec", 50, kgo.DialTLSConfig(e.tls(true)))
	produceConsume(t, at(p.saslPlain), "sec", 50, saslPlain("alice", "alice-secret"))
	bigOverTLS(t, at(p.ssl), kgo.DialTLSConfig(e.tls(true)))

	refused := func(name, addr string, want error, opts ...kgo.Opt) {
		t.Helper()
		cl := newClient(t, addr, append(opts, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		err := cl.Ping(ctx)
		if err == nil {
			t.Fatalf("%s: ping succeeded", name)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: hung until the deadline (%v)", name, err)
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
		t.Logf("%s: refused in %v: %v", name, time.Since(start).Round(time.Millisecond), err)
	}
	refused("wrong password", at(p.saslSSL), kerr.SaslAuthenticationFailed, kgo.DialTLSConfig(e.tls(false)), saslPlain("alice", "nope"))
	refused("unknown user", at(p.saslPlain), kerr.SaslAuthenticationFailed, saslPlain("mallory", "alice-secret"))
	refused("SCRAM user without a credential", at(p.saslSSL), kerr.SaslAuthenticationFailed, kgo.DialTLSConfig(e.tls(false)),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	refused("mechanism not enabled", at(p.saslSSL), kerr.UnsupportedSaslMechanism, kgo.DialTLSConfig(e.tls(false)),
		kgo.SASL(oauthMechanism{}))
	refused("no SASL on a SASL listener", at(p.saslPlain), nil)
	refused("PLAINTEXT client on the TLS port", at(p.saslSSL), nil, saslPlain("alice", "alice-secret"))
	refused("no client certificate", at(p.ssl), nil, kgo.DialTLSConfig(e.tls(false)))
	refused("untrusted server", at(p.ssl), nil, kgo.DialTLSConfig(&tls.Config{Certificates: []tls.Certificate{e.client.TLS}}))
}

// TestSecureInterBrokerTLS: three nodes whose inter-broker listener is SSL with client
// certificates required, or SASL_SSL (each node logging in with PLAIN as the JAAS username): an
// RF 3 topic's followers replicate over it (the ISR stays whole and acks=all produces with
// min.insync.replicas=3 succeed), and clients use SASL_SSL. (With a wrong inter-broker password
// the produce fails: the followers cannot fetch.)
func TestSecureInterBrokerTLS(t *testing.T) {
	for _, inter := range []string{"INTERNAL", "SASL_SSL"} {
		t.Run(inter, func(t *testing.T) {
			e := newSecureEnv(t)
			_, ps := startSecureCluster(t, e, 3, "--config", "inter.broker.listener.name="+inter)
			addr := fmt.Sprintf("127.0.0.1:%d", ps[1].saslSSL)
			opts := []kgo.Opt{kgo.DialTLSConfig(e.tls(false)), saslPlain("alice", "alice-secret")}
			admin := kadm.NewClient(newClient(t, addr, opts...))
			eventually(t, 30*time.Second, "three brokers", func() bool {
				m, err := admin.BrokerMetadata(testContext(t))
				return err == nil && len(m.Brokers) == 3
			})
			if _, err := admin.CreateTopic(testContext(t), 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "rep"); err != nil {
				t.Fatal(err)
			}
			// min.insync.replicas=3: every acks=all write needs both followers' fetches.
			produceConsume(t, addr, "rep", 300, opts...)
			td, err := admin.ListTopics(testContext(t), "rep")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range td["rep"].Partitions {
				if len(p.ISR) != 3 {
					t.Fatalf("partition %d ISR %v", p.Partition, p.ISR)
				}
			}
		})
	}
}

// TestSecureKcat: librdkafka (kcat) produces and consumes over SASL_SSL, and fails with a wrong
// password.
func TestSecureKcat(t *testing.T) {
	bin := need(t, "kcat", "kcat")
	e := newSecureEnv(t)
	_, ps := startSecureCluster(t, e, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", ps[0].saslSSL)
	sec := func(pass string) []string {
		return []string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN",
			"-X", "sasl.username=alice", "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + e.caFile}
	}
	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, "key-%d:value-%d\n", i, i)
	}
	kcat(t, []byte(in.String()), append(sec("alice-secret"), "-P", "-t", "kc", "-K", ":", "-X", "topic.request.required.acks=-1")...)
	out := kcat(t, nil, append(sec("alice-secret"), "-C", "-t", "kc", "-o", "beginning", "-e", "-q", "-f", "%k:%s\n")...)
	checkRecords(t, strings.Split(strings.TrimRight(out, "\n"), "\n"), 20)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(sec("wrong"), "-L", "-m", "10")...)
	b, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("kcat with a wrong password: %v (ctx %v)\n%s", err, ctx.Err(), b)
	}
	if !strings.Contains(string(b), "Authentication failed") && !strings.Contains(string(b), "SASL authentication error") {
		t.Fatalf("kcat with a wrong password did not report an authentication failure:\n%s", b)
	}
}

// oauthMechanism asks for OAUTHBEARER, which the test cluster does not enable.
type oauthMechanism struct{}

func (oauthMechanism) Name() string { return "OAUTHBEARER" }
func (oauthMechanism) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return nil, nil, errors.New("not reached: the handshake fails first")
}

// TestSecureScram: SCRAM credentials made with AlterUserScramCredentials through any node (the
// two that are not the controller forward it) let franz-go log in with SCRAM-SHA-256 and -512
// on every node, and kcat (librdkafka) too; Kafka's per-user errors for bad alterations;
// a deleted credential no longer logs in.
func TestSecureScram(t *testing.T) {
	e := newSecureEnv(t)
	nodes, ps := startSecureCluster(t, e, 3)
	ctx := testContext(t)
	for i, nd := range nodes {
		adm := kadm.NewClient(newClient(t, nd.addr))
		user := fmt.Sprint("user", i)
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
			{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: user + "-256"},
			{User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: user + "-512"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := res[user]; r.Err != nil {
			t.Fatalf("alter %s via node %d: %v %s", user, i, r.Err, r.ErrMessage)
		}
	}
	adm := kadm.NewClient(newClient(t, nodes[2].addr))
	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 3 || len(d["user1"].CredInfos) != 2 || d["user1"].CredInfos[1].Iterations != 8192 {
		t.Fatalf("describe: %+v", d)
	}
	if d, err := adm.DescribeUserSCRAMs(ctx, "nobody"); err != nil || !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %v %+v", err, d)
	}
	// kadm refuses bad iterations itself: send the request raw.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "nobody", Mechanism: 1}}
	req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		{Name: "weak", Mechanism: 1, Iterations: 100, Salt: []byte("s"), SaltedPassword: []byte("p")},
		{Name: "twice", Mechanism: 1, Iterations: 4096, Salt: []byte("s"), SaltedPassword: []byte("p")},
		{Name: "twice", Mechanism: 1, Iterations: 4096, Salt: []byte("s"), SaltedPassword: []byte("p")},
		{Name: "odd", Mechanism: 3, Iterations: 4096, Salt: []byte("s"), SaltedPassword: []byte("p")},
	}
	raw, err := req.RequestWith(ctx, newClient(t, nodes[1].addr))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		code int16
		msg  string
	}{
		"nobody": {kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"},
		"weak":   {kerr.UnacceptableCredential.Code, "Too few iterations"},
		"twice":  {kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"},
		"odd":    {kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism"},
	}
	if len(raw.Results) != len(want) {
		t.Fatalf("results %+v", raw.Results)
	}
	for _, r := range raw.Results {
		if w := want[r.User]; r.ErrorCode != w.code || r.ErrorMessage == nil || *r.ErrorMessage != w.msg {
			t.Errorf("%s: code %d %v, want %d %q", r.User, r.ErrorCode, r.ErrorMessage, w.code, w.msg)
		}
	}

	at := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ps[i].saslSSL) }
	if _, err := adm.CreateTopics(ctx, 1, 3, nil, "scram0", "scram1", "scram2", "scram512", "kscram"); err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		produceConsume(t, at(i), fmt.Sprint("scram", i), 20, kgo.DialTLSConfig(e.tls(false)),
			kgo.SASL(scram.Auth{User: "user0", Pass: "user0-256"}.AsSha256Mechanism()))
	}
	produceConsume(t, fmt.Sprintf("127.0.0.1:%d", ps[1].saslPlain), "scram512", 20,
		kgo.SASL(scram.Auth{User: "user2", Pass: "user2-512"}.AsSha512Mechanism()))

	if _, err := exec.LookPath("kcat"); err == nil {
		var in strings.Builder
		for i := range 10 {
			fmt.Fprintf(&in, "key-%d:value-%d\n", i, i)
		}
		sec := []string{"-b", at(0), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=user1", "-X", "sasl.password=user1-512", "-X", "ssl.ca.location=" + e.caFile}
		kcat(t, []byte(in.String()), append(sec, "-P", "-t", "kscram", "-K", ":")...)
		out := kcat(t, nil, append(sec, "-C", "-t", "kscram", "-o", "beginning", "-e", "-q", "-f", "%k:%s\n")...)
		checkRecords(t, strings.Split(strings.TrimRight(out, "\n"), "\n"), 10)
	}

	if res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "user0", Mechanism: kadm.ScramSha256}}, nil); err != nil || res["user0"].Err != nil {
		t.Fatalf("delete: %v %+v", err, res)
	}
	// Every node learns of the deletion through its metadata; until then it may still accept.
	eventually(t, 20*time.Second, "the deleted credential refused on node 1", func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(at(1)), kgo.DialTLSConfig(e.tls(false)),
			kgo.SASL(scram.Auth{User: "user0", Pass: "user0-256"}.AsSha256Mechanism()), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		return errors.Is(cl.Ping(ctx), kerr.SaslAuthenticationFailed)
	})
}

// bigOverTLS writes 64 KiB records and reads them back over a TLS listener: record sets that
// large leave the broker from the segment files (sendfile on plain sockets), which over TLS
// must go through the TLS connection's writes instead.
func bigOverTLS(t *testing.T, addr string, opts ...kgo.Opt) {
	t.Helper()
	ctx := testContext(t)
	p := newClient(t, addr, opts...)
	if _, err := kadm.NewClient(p).CreateTopic(ctx, 1, 1, nil, "sec-big"); err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 64<<10)
	for i := range val {
		val[i] = byte(i * 7)
	}
	const n = 40
	for i := range n {
		val[0] = byte(i)
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: "sec-big", Value: append([]byte(nil), val...)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, addr, append(opts, kgo.ConsumeTopics("sec-big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	got := 0
	for got < n {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d big records", got, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) != len(val) || r.Value[0] != byte(got) || r.Value[len(val)-1] != val[len(val)-1] {
				t.Fatalf("record %d: %d bytes, first %d", got, len(r.Value), r.Value[0])
			}
			got++
		})
	}
}
