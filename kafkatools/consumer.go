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
		name:    "kafka-console-consumer",
		summary: "This tool helps to read data from Kafka topics and outputs it to standard output.",
		options: []option{
			{name: "bootstrap-server", arg: "String: server to connect to", help: "REQUIRED: The server(s) to connect to."},
			{name: "topic", arg: "String: topic", help: "The topic to consume on."},
			{name: "include", arg: "String: Java regex (String)", help: "Regular expression specifying list of topics to include for consumption."},
			{name: "whitelist", arg: "String: Java regex (String)", help: "DEPRECATED, use --include instead."},
			{name: "partition", arg: "Integer: partition", help: "The partition to consume from. Consumption starts from the end of the partition unless '--offset' is specified."},
			{name: "offset", arg: "String: consume offset", help: "The offset to consume from (a non-negative number), or 'earliest' which means from beginning, or 'latest' which means from end (default: latest)"},
			{name: "from-beginning", help: "If the consumer does not already have an established offset to consume from, start with the earliest message present in the log rather than the latest message."},
			{name: "group", arg: "String: consumer group id", help: "The consumer group id of the consumer."},
			{name: "max-messages", arg: "Integer: num_messages", help: "The maximum number of messages to consume before exiting. If not set, consumption is continual."},
			{name: "timeout-ms", arg: "Integer: timeout_ms", help: "If specified, exit if no message is available for consumption for the specified interval."},
			{name: "property", arg: "String: prop", help: "The properties to initialize the message formatter: print.timestamp, print.key, print.offset, print.partition, print.headers, print.value, key.separator, line.separator, headers.separator, null.literal."},
			{name: "formatter", arg: "String: class", help: "The name of a class to use for formatting kafka messages for display. (default: kafka.tools.DefaultMessageFormatter)"},
			{name: "consumer-property", arg: "String: consumer_prop", help: "A mechanism to pass user-defined properties in the form key=value to the consumer."},
			{name: "consumer.config", arg: "String: config file", help: "Consumer config properties file. Note that [consumer-property] takes precedence over this config."},
			{name: "isolation-level", arg: "String", help: "Set to read_committed in order to filter out transactional messages which are not committed. Set to read_uncommitted to read all messages. (default: read_uncommitted)"},
			{name: "key-deserializer", arg: "String: deserializer for key", help: "Ignored: keys are printed as UTF-8 text."},
			{name: "value-deserializer", arg: "String: deserializer for values", help: "Ignored: values are printed as UTF-8 text."},
			{name: "skip-message-on-error", help: "If there is an error when processing a message, skip it instead of halt."},
		},
		run: runConsumer,
	})
}

// formatter is Kafka's DefaultMessageFormatter.
type formatter struct {
	timestamp, key, offset, partition, headers, value bool
	keySep, lineSep, headersSep, null                 string
}

func newFormatter(props map[string]string) formatter {
	f := formatter{value: true, keySep: "\t", lineSep: "\n", headersSep: ",", null: "null"}
	for k, dst := range map[string]*bool{"print.timestamp": &f.timestamp, "print.key": &f.key, "print.offset": &f.offset, "print.partition": &f.partition, "print.headers": &f.headers, "print.value": &f.value} {
		if v, ok := props[k]; ok {
			*dst = strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	for k, dst := range map[string]*string{"key.separator": &f.keySep, "line.separator": &f.lineSep, "headers.separator": &f.headersSep, "null.literal": &f.null} {
		if v, ok := props[k]; ok {
			*dst = v
		}
	}
	return f
}

func (f formatter) bytes(b []byte) string {
	if b == nil {
		return f.null
	}
	return string(b)
}

// format writes one record: timestamp, partition, offset, headers, key, value, each followed by
// key.separator when something follows, the value by line.separator.
func (f formatter) format(w *bufio.Writer, r *kgo.Record) {
	type field struct {
		on   bool
		text func() string
	}
	fields := []field{
		{f.timestamp, func() string {
			if r.Attrs.TimestampType() == 1 {
				return "LogAppendTime:" + strconv.FormatInt(r.Timestamp.UnixMilli(), 10)
			}
			return "CreateTime:" + strconv.FormatInt(r.Timestamp.UnixMilli(), 10)
		}},
		{f.partition, func() string { return "Partition:" + strconv.Itoa(int(r.Partition)) }},
		{f.offset, func() string { return "Offset:" + strconv.FormatInt(r.Offset, 10) }},
		{f.headers, func() string {
			if len(r.Headers) == 0 {
				return "NO_HEADERS"
			}
			hs := make([]string, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = h.Key + ":" + f.bytes(h.Value)
			}
			return strings.Join(hs, f.headersSep)
		}},
		{f.key, func() string { return f.bytes(r.Key) }},
	}
	var parts []string
	for _, fl := range fields {
		if fl.on {
			parts = append(parts, fl.text())
		}
	}
	w.WriteString(strings.Join(parts, f.keySep))
	if f.value {
		if len(parts) > 0 {
			w.WriteString(f.keySep)
		}
		w.WriteString(f.bytes(r.Value))
		w.WriteString(f.lineSep)
	}
}

func runConsumer(ctx context.Context, e *env, p *parsed) error {
	if err := required(p, "bootstrap-server"); err != nil {
		return err
	}
	include := p.str("include", p.str("whitelist", ""))
	if p.has("topic") == (include != "") {
		return usagef("Exactly one of --include/--topic is required. ")
	}
	if p.has("partition") && !p.has("topic") {
		return usagef("The topic is required when partition is specified.")
	}
	if p.has("from-beginning") && p.has("offset") {
		return usagef("Options from-beginning and offset cannot be specified together.")
	}
	if p.has("offset") && !p.has("partition") {
		return usagef("The partition is required when offset is specified.")
	}
	if p.has("group") && p.has("partition") {
		return usagef("Options group and partition cannot be specified together.")
	}
	if f := p.str("formatter", ""); f != "" && f != "kafka.tools.DefaultMessageFormatter" && f != "org.apache.kafka.tools.consumer.DefaultMessageFormatter" {
		return fmt.Errorf("formatter %s is not available: only the DefaultMessageFormatter is", f)
	}
	maxMessages, err := intOpt(p, "max-messages", -1)
	if err != nil {
		return err
	}
	timeoutMs, err := intOpt(p, "timeout-ms", -1)
	if err != nil {
		return err
	}
	fp := map[string]string{}
	if err := parseKeyValues(p.all("property"), fp); err != nil {
		return err
	}
	props, err := clientProps(p, "consumer.config", "consumer-property")
	if err != nil {
		return err
	}
	start := kgo.NewOffset().AtEnd()
	if p.has("from-beginning") || strings.EqualFold(props["auto.offset.reset"], "earliest") {
		start = kgo.NewOffset().AtStart()
	}
	if p.has("offset") {
		switch o := p.str("offset", ""); o {
		case "earliest":
			start = kgo.NewOffset().AtStart()
		case "latest":
			start = kgo.NewOffset().AtEnd()
		default:
			n, err := strconv.ParseInt(o, 10, 64)
			if err != nil || n < 0 {
				return usagef("The provided offset value '%s' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long.", o)
			}
			start = kgo.NewOffset().At(n)
		}
	}
	opts := []kgo.Opt{kgo.ConsumeResetOffset(start)}
	switch il := p.str("isolation-level", props["isolation.level"]); il {
	case "", "read_uncommitted":
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	default:
		return fmt.Errorf("Invalid value %s for configuration isolation.level: String must be one of: read_committed, read_uncommitted", il)
	}
	group := p.str("group", props["group.id"])
	switch {
	case p.has("partition"):
		part, err := intOpt(p, "partition", 0)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{p.str("topic", ""): {int32(part): start}}))
	case include != "":
		re, err := topicFilter(include)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(re.String()))
	default:
		opts = append(opts, kgo.ConsumeTopics(p.str("topic", "")))
	}
	if group != "" {
		// Offsets are committed for the records printed (not for records fetched past
		// --max-messages), periodically and when the consumer leaves.
		opts = append(opts, kgo.ConsumerGroup(group), kgo.AutoCommitMarks())
	}
	c, err := connect(p, props, opts...)
	if err != nil {
		return err
	}
	fmtr := newFormatter(fp)
	out := bufio.NewWriter(e.stdout)
	count := int64(0)
	defer func() {
		out.Flush()
		if group != "" {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.cl.CommitMarkedOffsets(cctx)
			cancel()
		}
		c.close()
		fmt.Fprintf(e.stderr, "Processed a total of %d messages\n", count)
	}()
	for maxMessages < 0 || count < maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if timeoutMs >= 0 {
			pctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMs)*time.Millisecond)
		}
		fs := c.cl.PollFetches(pctx)
		timedOut := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if ctx.Err() != nil {
			return nil // SIGINT or SIGTERM: Kafka's shutdown hook, a normal end
		}
		var fatal error
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && fatal == nil {
				fatal = fmt.Errorf("%s-%d: %w", t, part, err)
			}
		})
		if fatal != nil {
			fmt.Fprintf(e.stderr, "ERROR Error processing message, terminating consumer process: %v\n", fatal)
			return nil
		}
		if fs.NumRecords() == 0 && timedOut {
			fmt.Fprintln(e.stderr, "ERROR Error processing message, terminating consumer process: org.apache.kafka.common.errors.TimeoutException")
			return nil
		}
		for _, r := range fs.Records() {
			if maxMessages >= 0 && count >= maxMessages {
				break
			}
			fmtr.format(out, r)
			count++
			if group != "" {
				c.cl.MarkCommitRecords(r)
			}
		}
		if err := out.Flush(); err != nil {
			return nil // stdout closed (a pipe to head): Kafka's checkErr ends the consumer
		}
	}
	return nil
}
