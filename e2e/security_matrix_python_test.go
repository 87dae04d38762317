package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The Python clients of TestSecureClientMatrix (security_matrix_test.go). Each script runs the
// whole matrix for its client in one process (a Python start is a second or more on a loaded
// machine) and prints one JSON result: per protocol and mechanism what was read back or the
// error, then how a wrong password and a topic without ACLs ended.

// matrixResult is what a Python script prints.
type matrixResult struct {
	Runs     map[string]string `json:"runs"`     // "PROTO MECH" -> "ok" or the failure
	Wrong    string            `json:"wrong"`    // the wrong password's error
	Denied   string            `json:"denied"`   // producing to the topic without ACLs
	Warnings []string          `json:"warnings"` // librdkafka's, from the successful runs only
}

// check fails on any run that did not read back its records, and logs the failures' errors.
func (r matrixResult) check(t *testing.T) {
	t.Helper()
	for _, p := range matrixProtocols {
		for _, mech := range matrixMechanisms {
			if got := r.Runs[p+" "+mech]; got != "ok" {
				t.Errorf("%s %s: %s", p, mech, got)
			}
		}
	}
	t.Logf("wrong password: %s", r.Wrong)
	t.Logf("topic without ACLs: %s", r.Denied)
}

func matrixAddrs(m *matrixNode) string {
	b, _ := json.Marshal(m.addr)
	return string(b)
}

// skipWithoutPython skips, loudly, unless /usr/bin/python3 imports module.
func skipWithoutPython(t *testing.T, module, pkg string) {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import "+module).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: /usr/bin/python3 cannot import %s (apt-get install -y %s): %s", module, pkg, strings.TrimSpace(string(out)))
	}
}

const kafkaPythonMatrix = `import json, logging, sys, time
from kafka import KafkaProducer, KafkaConsumer
from kafka.errors import KafkaError

ADDR = json.loads(sys.argv[1])
CA = sys.argv[2]

class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.seen = []
    def emit(self, rec):
        self.seen.append(rec.getMessage())

seen = Collect()
logging.getLogger('kafka').addHandler(seen)
logging.getLogger('kafka').setLevel(logging.INFO)

def conf(proto, mech, pw):
    c = dict(bootstrap_servers=ADDR[proto], security_protocol=proto, sasl_mechanism=mech,
             sasl_plain_username='alice', sasl_plain_password=pw, request_timeout_ms=20000)
    if proto == 'SASL_SSL':
        c['ssl_cafile'] = CA
    return c

def err(e):
    return '%s: %s' % (type(e).__name__, e)

runs = {}
for proto in ('SASL_SSL', 'SASL_PLAINTEXT'):
    for mech in ('PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'):
        topic = ('mx.kafkapython.%s.%s' % (proto, mech)).lower()
        try:
            p = KafkaProducer(acks='all', **conf(proto, mech, 'alice-secret'))
            for i in range(10):
                p.send(topic, ('v%d' % i).encode()).get(timeout=30)
            p.close()
            c = KafkaConsumer(topic, auto_offset_reset='earliest', group_id=None, **conf(proto, mech, 'alice-secret'))
            got, deadline = [], time.time() + 30
            while len(got) < 10 and time.time() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got += [r.value.decode() for r in recs]
            c.close()
            runs[proto + ' ' + mech] = 'ok' if got == ['v%d' % i for i in range(10)] else 'read %r' % got
        except Exception as e:
            runs[proto + ' ' + mech] = err(e)

wrong = ''
mark = len(seen.seen)
try:
    p = KafkaProducer(api_version=(2, 5, 0), max_block_ms=5000, **conf('SASL_SSL', 'SCRAM-SHA-512', 'wrong'))
    p.send('mx.kafkapython.sasl_ssl.plain', b'x').get(timeout=10)
    wrong = 'accepted'
except Exception as e:
    wrong = err(e)
wrong += ' | ' + ' | '.join(list(dict.fromkeys(m for m in seen.seen[mark:] if 'uthenticat' in m))[:3])

try:
    p = KafkaProducer(acks='all', max_block_ms=10000, **conf('SASL_PLAINTEXT', 'SCRAM-SHA-256', 'alice-secret'))
    # An allowed topic first: kafka-python 2.0.2 fails a metadata update that asked for one topic
    # and got an error for it without recording the topic as unauthorized (and then times out),
    # so its TopicAuthorizationFailedError needs a request for two topics.
    p.send('mx.kafkapython.sasl_plaintext.scram-sha-256', b'y').get(timeout=30)
    p.send('secret', b'x').get(timeout=10)
    denied = 'accepted'
except Exception as e:
    denied = err(e)
print(json.dumps({'runs': runs, 'wrong': wrong, 'denied': denied}))
`

func matrixKafkaPython(t *testing.T, m *matrixNode) {
	skipWithoutPython(t, "kafka", "python3-kafka")
	p := startPython(t, kafkaPythonMatrix, matrixAddrs(m), m.e.caFile)
	p.wait(4 * time.Minute)
	var r matrixResult
	for _, l := range p.output() {
		if strings.HasPrefix(l, "{") {
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("decoding %s: %v", l, err)
			}
		}
	}
	if r.Runs == nil {
		t.Fatalf("no result; stdout:\n%s\nstderr:\n%s", strings.Join(p.output(), "\n"), p.errors())
	}
	r.check(t)
	// kafka-python 2.0.2 sends its SASL tokens as bare frames, not SaslAuthenticate requests,
	// so a refused login can only be a closed connection (as Kafka closes it): kafka-python logs
	// the reset of a connection still <authenticating>, and its metadata never arrives.
	if !strings.Contains(r.Wrong, "<authenticating>") || !strings.Contains(r.Wrong, "KafkaTimeoutError") {
		t.Errorf("wrong password: %s, want the connection closed while authenticating", r.Wrong)
	}
	if !strings.Contains(r.Denied, "TopicAuthorizationFailedError") {
		t.Errorf("produce to secret: %s, want TopicAuthorizationFailedError", r.Denied)
	}
}

const confluentMatrix = `
ADDR = json.loads(sys.argv[2])
CA = sys.argv[3]

def sec(proto, mech, pw, extra=None):
    c = conf({'bootstrap.servers': ADDR[proto], 'security.protocol': proto, 'sasl.mechanisms': mech,
              'sasl.username': 'alice', 'sasl.password': pw})
    if proto == 'SASL_SSL':
        c['ssl.ca.location'] = CA
    c.update(extra or {})
    return c

runs = {}
for proto in ('SASL_SSL', 'SASL_PLAINTEXT'):
    for mech in ('PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'):
        topic = ('mx.confluent.%s.%s' % (proto, mech)).lower()
        failed = []
        p = Producer(sec(proto, mech, 'alice-secret', {'acks': 'all'}))
        for i in range(10):
            p.produce(topic, ('v%d' % i).encode(), on_delivery=lambda e, m: e and failed.append(e.name()))
        left = p.flush(30)
        if left or failed:
            runs[proto + ' ' + mech] = 'produce: %d left, %r' % (left, failed)
            continue
        c = Consumer(sec(proto, mech, 'alice-secret', {'group.id': 'mx.confluent', 'enable.auto.commit': False}))
        c.assign([TopicPartition(topic, 0, -2)])
        got, deadline = [], time.time() + 30
        while len(got) < 10 and time.time() < deadline:
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value().decode())
        c.close()
        runs[proto + ' ' + mech] = 'ok' if got == ['v%d' % i for i in range(10)] else 'read %r' % got
ok_warnings = list(warned.seen)

bad = []
p = Producer(sec('SASL_SSL', 'SCRAM-SHA-512', 'wrong', {'error_cb': lambda e: bad.append('%s: %s' % (e.name(), e.str())), 'message.timeout.ms': 10000}))
p.produce('mx.confluent.sasl_ssl.plain', b'x')
p.flush(12)
wrong = ' | '.join(bad) or 'no error reported'

failed = []
p = Producer(sec('SASL_PLAINTEXT', 'PLAIN', 'alice-secret', {'acks': 'all', 'message.timeout.ms': 10000}))
p.produce('secret', b'x', on_delivery=lambda e, m: failed.append(e.name() if e else 'delivered'))
p.flush(12)
denied = ' '.join(failed) or 'no delivery report'
print('result', json.dumps({'runs': runs, 'wrong': wrong, 'denied': denied, 'warnings': ok_warnings}), flush=True)
`

func matrixConfluent(t *testing.T, m *matrixNode) {
	skipWithoutPython(t, "confluent_kafka", "python3-confluent-kafka")
	var r matrixResult
	runConfluent(t, confluentMatrix, 4*time.Minute, &r, m.addr["SASL_PLAINTEXT"], matrixAddrs(m), m.e.caFile)
	r.check(t)
	if len(r.Warnings) > 0 {
		t.Errorf("librdkafka warned during the successful runs: %q", r.Warnings)
	}
	if !strings.Contains(r.Wrong, "Authentication failed") {
		t.Errorf("wrong password: %s, want librdkafka's SASL authentication failure", r.Wrong)
	}
	if r.Denied != "TOPIC_AUTHORIZATION_FAILED" {
		t.Errorf("produce to secret: %s, want TOPIC_AUTHORIZATION_FAILED", r.Denied)
	}
}
