package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// seedProducer is the lesson's producer snippet, verbatim but for the port: the lesson's compose
// file publishes 9094; the embedded default listens on 9092, as the issue asks.
const seedProducer = `from kafka import KafkaProducer
from time import sleep


producer = KafkaProducer(bootstrap_servers=['localhost:9092'])

producer.send(
    topic='messages',
    value=b'my message from python',
    key=b'python-message',
)

sleep(1)
`

// plainConsumer reads the topic from the earliest offset without a group and prints the first
// value, giving up after 20 s.
const plainConsumer = `from kafka import KafkaConsumer

consumer = KafkaConsumer(
    'messages',
    bootstrap_servers=['localhost:9092'],
    auto_offset_reset='earliest',
    consumer_timeout_ms=20000,
)

for message in consumer:
    print(message.value)
    break
`

// TestSeedSnippetsAgainstDefaultNode runs `minikraft` with no arguments, as the README's first
// command does, and the lesson's Python producer against it.
func TestSeedSnippetsAgainstDefaultNode(t *testing.T) {
	needKafkaPython(t)
	for _, addr := range []string{"127.0.0.1:9092", "127.0.0.1:9093"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the embedded default needs %s free, but it is taken: %v", addr, err)
		}
		ln.Close()
	}
	n := &node{t: t, dir: t.TempDir(), addr: "127.0.0.1:9092"}
	n.start()
	t.Cleanup(n.stop)

	runPython(t, seedProducer, 60*time.Second)
	out := runPython(t, plainConsumer, 60*time.Second)
	if got := strings.TrimSpace(out); got != "b'my message from python'" {
		t.Fatalf("consumer printed %q, want b'my message from python'\nnode log:\n%s", got, n.output())
	}
	fmt.Println("seed consumer printed:", strings.TrimSpace(out))

	// The lesson's group consumer, verbatim but for the port, loops forever: run it as a child
	// and stop it once it has printed the message.
	cons := startPython(t, strings.Replace(seedGroupConsumer, "localhost:9094", "localhost:9092", 1))
	eventually(t, 40*time.Second, "the seed group consumer to print the message", func() bool {
		if cons.exited() {
			t.Fatalf("the group consumer exited: %s", cons.errors())
		}
		return slices.Contains(cons.output(), "b'my message from python'")
	})
	cons.kill()
}
