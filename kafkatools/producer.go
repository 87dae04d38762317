package kafkatools

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register(&tool{
		name:    "kafka-console-producer",
		summary: "This tool helps to read data from standard input and publish it to Kafka.",
		options: []option{
			{name: "bootstrap-server", arg: "String: server to connect to", help: "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to."},
			{name: "broker-list", arg: "String: broker-list", help: "DEPRECATED, use --bootstrap-server instead."},
			{name: "topic", arg: "String: topic", help: "REQUIRED: The topic id to produce messages to."},
			{name: "property", arg: "String: prop", help: "A mechanism to pass user-defined properties in the form key=value to the message reader: parse.key, key.separator, ignore.error, null.marker, parse.headers (repeatable)."},
			{name: "producer-property", arg: "String: producer_prop", help: "A mechanism to pass user-defined properties in the form key=value to the producer (repeatable)."},
			{name: "producer.config", arg: "String: config file", help: "Producer config properties file. Note that [producer-property] takes precedence over this config."},
			{name: "request-required-acks", arg: "String: request required acks", help: "The required `acks` of the producer requests (default: -1)"},
			{name: "compression-codec", arg: "String: compression-codec", help: "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'. If specified without value, then it defaults to 'gzip'"},
			{name: "sync", help: "If set message send requests to the brokers are synchronously, one at a time as they arrive."},
			{name: "timeout", arg: "Long: timeout_ms", help: "If set and the producer is running in asynchronous mode, this gives the maximum amount of time a message will queue awaiting sufficient batch size."},
			{name: "request-timeout-ms", arg: "Integer: request timeout ms", help: "The ack timeout of the producer requests."},
			{name: "max-block-ms", arg: "Long: max block on send", help: "The max time that the producer will block for during a send request."},
			{name: "batch-size", arg: "Integer: size", help: "Number of messages to send in a single batch if they are not being sent synchronously."},
		},
		run: runProducer,
		report: func(e *env, _ []string, err error) {
			fmt.Fprintln(e.stderr, "ERROR Error when sending message to topic:", err)
		},
	})
}

// readerProps are LineMessageReader's properties (--property).
type readerProps struct {
	parseKey, parseHeaders, ignoreError bool
	keySep, headersDelim, headersSep    string
	headerKeySep, nullMarker            string
}

func parseBoolProp(props map[string]string, key string) bool {
	return strings.EqualFold(strings.TrimSpace(props[key]), "true")
}

func runProducer(ctx context.Context, e *env, p *parsed) error {
	if err := required(p, "topic"); err != nil {
		return err
	}
	if !p.has("bootstrap-server") && !p.has("broker-list") {
		return usagef("Missing required argument \"[bootstrap-server]\"")
	}
	rp := map[string]string{}
	if err := parseKeyValues(p.all("property"), rp); err != nil {
		return err
	}
	r := readerProps{
		parseKey: parseBoolProp(rp, "parse.key"), parseHeaders: parseBoolProp(rp, "parse.headers"),
		ignoreError: parseBoolProp(rp, "ignore.error"), keySep: "\t", headersDelim: "\t",
		headersSep: ",", headerKeySep: ":", nullMarker: rp["null.marker"],
	}
	for k, dst := range map[string]*string{"key.separator": &r.keySep, "headers.delimiter": &r.headersDelim, "headers.separator": &r.headersSep, "headers.key.separator": &r.headerKeySep} {
		if v, ok := rp[k]; ok {
			*dst = v
		}
	}
	props, err := clientProps(p, "producer.config", "producer-property")
	if err != nil {
		return err
	}
	if v := p.str("request-required-acks", ""); v != "" {
		props["acks"] = v
	} else if props["acks"] == "" {
		props["acks"] = "-1"
	}
	opts := []kgo.Opt{kgo.DefaultProduceTopic(p.str("topic", ""))}
	switch props["acks"] {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return fmt.Errorf("Invalid value %s for configuration acks: String must be one of: all, -1, 0, 1", props["acks"])
	}
	if strings.EqualFold(props["enable.idempotence"], "false") {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	codec := props["compression.type"]
	if p.has("compression-codec") {
		codec = p.str("compression-codec", "gzip")
		if codec == "" {
			codec = "gzip"
		}
	}
	switch codec {
	case "", "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		return fmt.Errorf("Invalid value %s for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd", codec)
	}
	if ms := p.str("timeout", props["linger.ms"]); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil || n < 0 {
			return usagef("Cannot parse argument '%s' of option timeout", ms)
		}
		opts = append(opts, kgo.ProducerLinger(time.Duration(n)*time.Millisecond))
	}
	// Kafka's delivery.timeout.ms (2 minutes by default) bounds how long a record may wait for
	// an unreachable cluster; without it the tool would wait forever.
	delivery := 120 * time.Second
	if v := props["delivery.timeout.ms"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("Invalid value %s for configuration delivery.timeout.ms", v)
		}
		delivery = time.Duration(n) * time.Millisecond
	}
	opts = append(opts, kgo.RecordDeliveryTimeout(delivery))
	c, err := connect(p, props, opts...)
	if err != nil {
		return err
	}
	defer c.close()

	sync := p.has("sync")
	var firstErr error
	failed := make(chan error, 1)
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	prompt := func() {
		if e.stdinIsTTY {
			fmt.Fprint(e.stdout, ">")
		}
	}
	prompt()
	for line := 1; sc.Scan(); line++ {
		rec, err := r.record(sc.Text(), line)
		if err != nil {
			firstErr = err
			break
		}
		if sync {
			if err := c.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				fmt.Fprintf(e.stderr, "ERROR Error when sending message to topic %s with key: %s, value: %d bytes with error: %v\n", p.str("topic", ""), keyDesc(rec.Key), len(rec.Value), err)
			}
		} else {
			c.cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
				if err != nil {
					fmt.Fprintf(e.stderr, "ERROR Error when sending message to topic %s with key: %s, value: %d bytes with error: %v\n", rec.Topic, keyDesc(rec.Key), len(rec.Value), err)
					select {
					case failed <- err:
					default:
					}
				}
			})
		}
		prompt()
		if ctx.Err() != nil {
			break
		}
	}
	if err := sc.Err(); err != nil && firstErr == nil {
		firstErr = err
	}
	// Kafka's producer sends what it buffered on close: flush before leaving.
	if err := c.cl.Flush(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return firstErr
	}
	select {
	case <-failed:
		// Each failure was printed as it happened, as Kafka's ErrorLoggingCallback does; the
		// tool's exit status stays 0 there too.
	default:
	}
	return nil
}

func keyDesc(k []byte) string {
	if k == nil {
		return "null"
	}
	return fmt.Sprintf("%d bytes", len(k))
}

// record parses one input line as Kafka's LineMessageReader does: optional headers, then an
// optional key before key.separator, then the value; null.marker stands for a null key or value.
func (r readerProps) record(line string, n int) (*kgo.Record, error) {
	rec := &kgo.Record{}
	if r.parseHeaders {
		h, rest, ok := strings.Cut(line, r.headersDelim)
		if !ok {
			if !r.ignoreError {
				return nil, fmt.Errorf("No headers delimiter found on line number %d: '%s'", n, line)
			}
		} else {
			line = rest
			if h != r.nullMarker || r.nullMarker == "" {
				for _, kv := range strings.Split(h, r.headersSep) {
					k, v, ok := strings.Cut(kv, r.headerKeySep)
					if !ok {
						return nil, fmt.Errorf("No header key separator found in pair '%s' on line number %d", kv, n)
					}
					hdr := kgo.RecordHeader{Key: k}
					if r.nullMarker == "" || v != r.nullMarker {
						hdr.Value = []byte(v)
					}
					rec.Headers = append(rec.Headers, hdr)
				}
			}
		}
	}
	if r.parseKey {
		k, v, ok := strings.Cut(line, r.keySep)
		if !ok {
			if !r.ignoreError {
				return nil, errors.New("No key separator found on line number " + strconv.Itoa(n) + ": '" + line + "'")
			}
			v = line
		} else if r.nullMarker == "" || k != r.nullMarker {
			rec.Key = []byte(k)
		}
		line = v
	}
	if r.nullMarker == "" || line != r.nullMarker {
		rec.Value = []byte(line)
	}
	return rec, nil
}
