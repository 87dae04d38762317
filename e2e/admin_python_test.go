package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pyAdminExample is the README's pytest example of the test admin endpoint, verbatim: the test
// puts the node's addresses in place of localhost:9092 and localhost:9095 and runs it as a script.
const pyAdminExample = `import json, time, urllib.request
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

BOOTSTRAP = 'localhost:9092'
ADMIN = 'http://localhost:9095'  # minikraft --test-admin-listen 127.0.0.1:9095


def control(path, **body):
    req = urllib.request.Request(ADMIN + path, data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'}, method='POST')
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def test_producer_retries_not_leader():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic('orders', num_partitions=1, replication_factor=1)])
    admin.close()
    # The node answers its next two Produce requests (api key 0) with NOT_LEADER_OR_FOLLOWER (6).
    control('/v1/inject-error', api_key=0, error_code=6, times=2)
    try:
        producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks='all', retries=5)
        producer.send('orders', b'paid').get(timeout=30)  # retried after a metadata refresh
        producer.close()
    finally:
        control('/v1/clear-injections')
    consumer = KafkaConsumer('orders', bootstrap_servers=BOOTSTRAP, auto_offset_reset='earliest')
    got, deadline = [], time.time() + 30
    while not got and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got += [r.value for r in records]
    consumer.close()
    assert got == [b'paid']
`

// TestAdminEndpointPython runs the README's pytest example against a node started with
// --test-admin-listen.
func TestAdminEndpointPython(t *testing.T) {
	ap := freePort(t)
	n := startSingle(t, "--test-admin-listen", fmt.Sprintf("127.0.0.1:%d", ap))
	script := strings.NewReplacer("localhost:9092", n.addr, "localhost:9095", fmt.Sprintf("127.0.0.1:%d", ap)).Replace(pyAdminExample)
	out := runPython(t, script+"\ntest_producer_retries_not_leader()\nprint('passed')\n", 2*time.Minute)
	if !strings.Contains(out, "passed") {
		t.Fatalf("the example did not pass:\n%s", out)
	}
}
