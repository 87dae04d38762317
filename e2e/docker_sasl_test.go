package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/minikraft/minikraft/internal/testcert"
)

// saslComposePython produces ten records over SASL_SSL with SCRAM-SHA-512 as alice (acks=all)
// and reads them back in a consumer group, printing how many it read.
const saslComposePython = `import itertools
from kafka import KafkaProducer, KafkaConsumer

common = dict(
    bootstrap_servers=['127.0.0.1:29092', '127.0.0.1:29093'],
    security_protocol='SASL_SSL',
    sasl_mechanism='SCRAM-SHA-512',
    sasl_plain_username='alice',
    sasl_plain_password='alice-secret',
    ssl_cafile=%q,
)
producer = KafkaProducer(acks='all', **common)
for i in range(10):
    producer.send('secured', key=b'k%%d' %% i, value=b'python-%%d' %% i).get(timeout=30)
producer.flush()
consumer = KafkaConsumer('secured', group_id='secured-readers', auto_offset_reset='earliest',
                         consumer_timeout_ms=30000, **common)
got = [m.value for m in itertools.islice(consumer, 10)]
consumer.commit()
print('consumed', len(got), sorted(got)[0].decode())
`

// TestDockerSASLCompose runs docker-compose.sasl.yml: three nodes configured by bitnami's
// variables with SASL_SSL client and inter-broker listeners (SCRAM-SHA-512 between brokers), an
// SSL controller listener with client certificates required (Raft and the control calls over
// mutual TLS), and PEM certificates the test makes with Go's crypto, mounted where bitnami reads
// them. All three
// become healthy (the image's check speaks TLS); franz-go creates an RF 3 topic over SASL_SSL
// with SCRAM-SHA-256 as bob; kafka-python produces (acks=all) and consumes in a group over
// SASL_SSL with SCRAM-SHA-512 as alice; kcat reads the records with PLAIN; the ISR is full, so
// the followers fetched over the brokers' own SCRAM-over-TLS links; a wrong password and a client
// without TLS are refused.
func TestDockerSASLCompose(t *testing.T) {
	needDocker(t)
	needKafkaPython(t)
	needPortsFree(t, 29092, 29093, 29094)
	buildImage(t)

	ca, err := testcert.NewCA("minikraft compose CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue("kafka", "", "kafka-0", "kafka-1", "kafka-2")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The containers run as uid 1001: the directory and files must be readable by anyone.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"kafka.keystore.pem":   srv.CertPEM, // the chain: leaf, then CA
		"kafka.keystore.key":   srv.KeyPEM,
		"kafka.truststore.pem": ca.CertPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	caFile := filepath.Join(dir, "kafka.truststore.pem")
	t.Setenv("MINIKRAFT_CERTS_DIR", dir)

	p := startCompose(t, "docker-compose.sasl.yml")
	p.waitHealthy(120*time.Second, "kafka-0", "kafka-1", "kafka-2")
	ctx := flowContext(t, 4*time.Minute)

	tlsCfg := &tls.Config{RootCAs: ca.Pool()}
	bob := []kgo.Opt{kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism())}
	adm := kadm.NewClient(newClient(t, "127.0.0.1:29094", bob...))
	pollEvery(t, 60*time.Second, time.Second, "the topic to be created over SASL_SSL", func() bool {
		r, err := adm.CreateTopic(ctx, 3, 3, nil, "secured")
		return err == nil && r.Err == nil
	})

	out := runPython(t, fmt.Sprintf(saslComposePython, caFile), 120*time.Second)
	if !strings.Contains(out, "consumed 10 python-0") {
		t.Fatalf("kafka-python over SASL_SSL/SCRAM-SHA-512: %s", out)
	}
	fmt.Print("kafka-python (SASL_SSL, SCRAM-SHA-512) printed: ", out)

	{
		got := kcat(t, nil, "-b", "127.0.0.1:29093", "-C", "-t", "secured", "-o", "beginning", "-e", "-q", "-f", "%s\n",
			"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN",
			"-X", "sasl.username=bob", "-X", "sasl.password=bob-secret", "-X", "ssl.ca.location="+caFile)
		if n := len(strings.Fields(got)); n != 10 {
			t.Fatalf("kcat (PLAIN over SASL_SSL) read %d records: %q", n, got)
		}
	}

	pollEvery(t, 30*time.Second, 500*time.Millisecond, "a full ISR (followers fetching over SCRAM and TLS)", func() bool {
		md, err := adm.Metadata(ctx, "secured")
		if err != nil {
			return false
		}
		for _, part := range md.Topics["secured"].Partitions {
			if len(part.ISR) != 3 {
				return false
			}
		}
		return true
	})

	wrong := newClient(t, "127.0.0.1:29092", kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism()))
	if err := wrong.Ping(ctx); err == nil || !strings.Contains(err.Error(), "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("wrong password: %v", err)
	}
	noTLS := newClient(t, "127.0.0.1:29092", kgo.DialTimeout(5*time.Second), kgo.RequestRetries(0))
	if err := noTLS.Ping(ctx); err == nil {
		t.Fatal("a PLAINTEXT client was served by a SASL_SSL listener")
	}
	fmt.Printf("memory (docker stats, three SASL_SSL nodes):\n%s\n", p.memory("kafka-0", "kafka-1", "kafka-2"))
}
