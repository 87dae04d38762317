package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The client matrix over SASL (issue 15): kcat (librdkafka), kafka-python, confluent-kafka-python,
// sarama and franz-go each produce and consume over SASL_SSL and SASL_PLAINTEXT with PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 on one node with StandardAuthorizer on; each is refused with
// an authentication failure for a wrong password, and gets TOPIC_AUTHORIZATION_FAILED for a
// topic its user has no ACL on. alice's ACLs: READ and WRITE on topics prefixed "mx.", READ on
// groups prefixed "mx."; admin is the super user that creates the topics. A client that is not
// installed skips its subtest with what to install (the others still run).

var (
	matrixProtocols  = []string{"SASL_SSL", "SASL_PLAINTEXT"}
	matrixMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
	matrixClients    = []string{"franz", "sarama", "kcat", "kafkapython", "confluent"}
)

// matrixTopic is the topic a client uses for one protocol and mechanism.
func matrixTopic(client, proto, mech string) string {
	return strings.ToLower(fmt.Sprintf("mx.%s.%s.%s", client, proto, mech))
}

// matrixNode is the node of the matrix tests and how to reach it.
type matrixNode struct {
	e    *secureEnv
	addr map[string]string // by protocol
}

func startMatrixNode(t *testing.T) *matrixNode {
	t.Helper()
	e := newSecureEnv(t)
	_, ps := startSecureCluster(t, e, 1,
		"--config", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"--config", "super.users=User:admin",
		"--config", "minikraft.scram.bootstrap=SCRAM-SHA-256=[name=alice,password=alice-secret] SCRAM-SHA-512=[name=alice,password=alice-secret]")
	m := &matrixNode{e: e, addr: map[string]string{
		"SASL_SSL":       fmt.Sprintf("127.0.0.1:%d", ps[0].saslSSL),
		"SASL_PLAINTEXT": fmt.Sprintf("127.0.0.1:%d", ps[0].saslPlain),
	}}
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, m.addr["SASL_PLAINTEXT"], saslPlain("admin", "admin-secret")))
	topics := []string{"secret"}
	for _, c := range matrixClients {
		for _, p := range matrixProtocols {
			for _, mech := range matrixMechanisms {
				topics = append(topics, matrixTopic(c, p, mech))
			}
		}
	}
	res, err := adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil || res.Error() != nil {
		t.Fatalf("creating the topics: %v %v", err, res.Error())
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("mx.").Groups("mx.").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpRead, kadm.OpWrite)
	cr, err := adm.CreateACLs(ctx, acls)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cr {
		if r.Err != nil {
			t.Fatalf("CreateAcls: %v", r.Err)
		}
	}
	return m
}

// skipWithout skips the subtest, loudly, when prog is not installed.
func skipWithout(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("SKIPPED: %s is not installed (apt-get install -y %s)", prog, pkg)
	}
	return p
}

// TestSecureClientMatrix runs every client of the matrix against one node.
func TestSecureClientMatrix(t *testing.T) {
	m := startMatrixNode(t)
	t.Run("franz", func(t *testing.T) { matrixFranz(t, m) })
	t.Run("sarama", func(t *testing.T) { matrixSarama(t, m) })
	t.Run("kcat", func(t *testing.T) { matrixKcat(t, m) })
	t.Run("kafkapython", func(t *testing.T) { matrixKafkaPython(t, m) })
	t.Run("confluent", func(t *testing.T) { matrixConfluent(t, m) })
}

func franzMechanism(mech, pass string) sasl.Mechanism {
	switch mech {
	case "SCRAM-SHA-256":
		return scram.Auth{User: "alice", Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: "alice", Pass: pass}.AsSha512Mechanism()
	}
	return plain.Auth{User: "alice", Pass: pass}.AsMechanism()
}

func matrixFranz(t *testing.T, m *matrixNode) {
	opts := func(proto, mech, pass string) []kgo.Opt {
		o := []kgo.Opt{kgo.SASL(franzMechanism(mech, pass)), kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second)}
		if proto == "SASL_SSL" {
			o = append(o, kgo.DialTLSConfig(m.e.tls(false)))
		}
		return o
	}
	for _, p := range matrixProtocols {
		for _, mech := range matrixMechanisms {
			produceConsume(t, m.addr[p], matrixTopic("franz", p, mech), 20, opts(p, mech, "alice-secret")...)
		}
	}
	ctx := testContext(t)
	bad := newClient(t, m.addr["SASL_SSL"], opts("SASL_SSL", "SCRAM-SHA-512", "wrong")...)
	if err := bad.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	} else {
		t.Logf("wrong password: %v", err)
	}
	cl := newClient(t, m.addr["SASL_SSL"], opts("SASL_SSL", "SCRAM-SHA-256", "alice-secret")...)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("produce to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// saramaScram adapts franz-go's SCRAM client (an implementation independent of minikraft's
// server side) to sarama's SCRAMClient, since sarama ships none of its own.
type saramaScram struct {
	sha512 bool // SCRAM-SHA-512, else SCRAM-SHA-256
	sess   sasl.Session
	done   bool
	user   string
	pass   string
}

func (s *saramaScram) Begin(user, pass, _ string) error {
	s.user, s.pass = user, pass
	return nil
}

func (s *saramaScram) Step(challenge string) (string, error) {
	if s.sess == nil {
		m := scram.Auth{User: s.user, Pass: s.pass}.AsSha256Mechanism()
		if s.sha512 {
			m = scram.Auth{User: s.user, Pass: s.pass}.AsSha512Mechanism()
		}
		sess, first, err := m.Authenticate(context.Background(), "")
		if err != nil {
			return "", err
		}
		s.sess = sess
		return string(first), nil
	}
	done, resp, err := s.sess.Challenge([]byte(challenge))
	s.done = done
	return string(resp), err
}

func (s *saramaScram) Done() bool { return s.done }

func saramaSecurity(m *matrixNode, proto, mech, pass string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "minikraft-e2e-sarama"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Metadata.Retry.Max = 1
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User, cfg.Net.SASL.Password = "alice", pass
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	switch mech {
	case "SCRAM-SHA-256":
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaScram{} }
	case "SCRAM-SHA-512":
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaScram{sha512: true} }
	}
	if proto == "SASL_SSL" {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = m.e.tls(false)
	}
	return cfg
}

func matrixSarama(t *testing.T, m *matrixNode) {
	for _, p := range matrixProtocols {
		for _, mech := range matrixMechanisms {
			topic := matrixTopic("sarama", p, mech)
			cfg := saramaSecurity(m, p, mech, "alice-secret")
			prod, err := sarama.NewSyncProducer([]string{m.addr[p]}, cfg)
			if err != nil {
				t.Fatalf("%s %s: producer: %v", p, mech, err)
			}
			for i := range 10 {
				if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint("v", i))}); err != nil {
					t.Fatalf("%s %s: send: %v", p, mech, err)
				}
			}
			prod.Close()
			cons, err := sarama.NewConsumer([]string{m.addr[p]}, cfg)
			if err != nil {
				t.Fatalf("%s %s: consumer: %v", p, mech, err)
			}
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatalf("%s %s: consume: %v", p, mech, err)
			}
			for i := range 10 {
				select {
				case msg := <-pc.Messages():
					if string(msg.Value) != fmt.Sprint("v", i) {
						t.Fatalf("%s %s: record %d is %q", p, mech, i, msg.Value)
					}
				case err := <-pc.Errors():
					t.Fatalf("%s %s: %v", p, mech, err)
				case <-time.After(30 * time.Second):
					t.Fatalf("%s %s: read %d of 10", p, mech, i)
				}
			}
			pc.Close()
			cons.Close()
		}
	}
	_, err := sarama.NewClient([]string{m.addr["SASL_SSL"]}, saramaSecurity(m, "SASL_SSL", "SCRAM-SHA-256", "wrong"))
	if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
		t.Errorf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	} else {
		t.Logf("wrong password: %v", err)
	}
	prod, err := sarama.NewSyncProducer([]string{m.addr["SASL_PLAINTEXT"]}, saramaSecurity(m, "SASL_PLAINTEXT", "SCRAM-SHA-512", "alice-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "secret", Value: sarama.StringEncoder("x")}); !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		t.Errorf("produce to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// kcatSecurity is kcat's -X options for a protocol, mechanism and password.
func kcatSecurity(m *matrixNode, proto, mech, pass string) []string {
	a := []string{"-b", m.addr[proto], "-X", "security.protocol=" + proto, "-X", "sasl.mechanisms=" + mech,
		"-X", "sasl.username=alice", "-X", "sasl.password=" + pass}
	if proto == "SASL_SSL" {
		a = append(a, "-X", "ssl.ca.location="+m.e.caFile)
	}
	return a
}

// kcatFails runs kcat, which must fail or report an error, and returns its output.
func kcatFails(t *testing.T, bin string, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	b, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("kcat %v hung:\n%s", args, b)
	}
	return string(b)
}

func matrixKcat(t *testing.T, m *matrixNode) {
	bin := skipWithout(t, "kcat", "kcat")
	for _, p := range matrixProtocols {
		for _, mech := range matrixMechanisms {
			topic := matrixTopic("kcat", p, mech)
			var in strings.Builder
			for i := range 10 {
				fmt.Fprintf(&in, "key-%d:value-%d\n", i, i)
			}
			sec := kcatSecurity(m, p, mech, "alice-secret")
			kcat(t, []byte(in.String()), append(sec, "-P", "-t", topic, "-K", ":", "-X", "topic.request.required.acks=-1")...)
			out := kcat(t, nil, append(sec, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\n")...)
			checkRecords(t, strings.Split(strings.TrimRight(out, "\n"), "\n"), 10)
		}
	}
	out := kcatFails(t, bin, nil, append(kcatSecurity(m, "SASL_SSL", "SCRAM-SHA-512", "wrong"), "-L", "-m", "10")...)
	if !strings.Contains(out, "Authentication failed") && !strings.Contains(out, "SASL authentication error") {
		t.Errorf("wrong password: no authentication failure in kcat's output:\n%s", out)
	} else {
		t.Logf("wrong password: %s", firstLineWith(out, "uthentication"))
	}
	out = kcatFails(t, bin, []byte("x\n"), append(kcatSecurity(m, "SASL_PLAINTEXT", "PLAIN", "alice-secret"), "-P", "-t", "secret", "-X", "topic.request.required.acks=-1")...)
	if !strings.Contains(strings.ToLower(out), "topic authorization failed") {
		t.Errorf("produce to secret: kcat did not report TOPIC_AUTHORIZATION_FAILED:\n%s", out)
	}
}

func firstLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
