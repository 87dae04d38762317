package kafkatools

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	register(&tool{
		name:    "kafka-get-offsets",
		summary: "An interactive shell for getting topic-partition offsets.",
		options: []option{
			{name: "bootstrap-server", arg: "String: HOST1:PORT1,...,HOST3:PORT3", help: "REQUIRED. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2."},
			{name: "broker-list", arg: "String: HOST1:PORT1,...,HOST3:PORT3", help: "DEPRECATED, use --bootstrap-server instead."},
			{name: "command-config", arg: "String: config file", help: "Property file containing configs to be passed to Admin Client."},
			{name: "topic", arg: "String: topic", help: "The topic to get the offsets for. It also accepts a regular expression. If not present, all authorized topics are queried."},
			{name: "topic-partitions", arg: "String: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3", help: "Comma separated list of topic-partition patterns to get the offsets for."},
			{name: "partitions", arg: "String: partition ids", help: "Comma separated list of partition ids to get the offsets for. If not present, all partitions of the topics are queried."},
			{name: "time", arg: "String: <timestamp> / -1 or latest / -2 or earliest / -3 or max-timestamp", help: "timestamp of the offsets before that. (default: latest)"},
			{name: "exclude-internal-topics", help: "By default, internal topics are included. If specified, internal topics are excluded."},
		},
		run:    runGetOffsets,
		report: func(e *env, _ []string, err error) { fmt.Fprintln(e.stderr, "Error occurred: "+err.Error()) },
	})
	register(&tool{
		name:    "kafka-delete-records",
		summary: "This tool helps to delete records of the given partitions down to the specified offset.",
		options: []option{
			{name: "bootstrap-server", arg: "String: server(s) to use for bootstrapping", help: "REQUIRED: The server to connect to."},
			{name: "command-config", arg: "String: command config property file path", help: "A property file containing configs to be passed to Admin Client."},
			{name: "offset-json-file", arg: "String: Offset json file path", help: "REQUIRED: The JSON file with offset per partition. The format to use is:\n{\"partitions\":\n  [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n \"version\":1\n}"},
		},
		run: runDeleteRecords,
	})
}

func runGetOffsets(ctx context.Context, e *env, p *parsed) error {
	if !p.has("bootstrap-server") && !p.has("broker-list") {
		return usagef("Missing required argument \"[bootstrap-server]\"")
	}
	if p.has("topic-partitions") && (p.has("topic") || p.has("partitions")) {
		return usagef("Option topic-partitions cannot be used with --topic or --partitions")
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()

	// The partitions asked for: filters of topic regex and partition ranges.
	type filter struct {
		topic  *regexp.Regexp
		lo, hi int64 // partition range, inclusive; hi -1 means no upper bound
	}
	var filters []filter
	if tp := p.str("topic-partitions", ""); tp != "" {
		for _, part := range strings.Split(tp, ",") {
			name, rng, hasRng := strings.Cut(part, ":")
			re, err := topicFilter(name)
			if err != nil {
				return err
			}
			f := filter{topic: re, lo: 0, hi: -1}
			if hasRng {
				loS, hiS, isRange := strings.Cut(rng, "-")
				var e1, e2 error
				if loS != "" {
					f.lo, e1 = strconv.ParseInt(loS, 10, 32)
				}
				switch {
				case !isRange:
					f.hi = f.lo
				case hiS != "":
					f.hi, e2 = strconv.ParseInt(hiS, 10, 32)
					f.hi-- // Kafka's upper bound is exclusive
				}
				if e1 != nil || e2 != nil {
					return fmt.Errorf("Invalid topic-partition pattern: %s", part)
				}
			}
			filters = append(filters, f)
		}
	} else {
		re, err := topicFilter(p.str("topic", ".*"))
		if err != nil {
			return err
		}
		if ps := p.str("partitions", ""); ps != "" {
			for _, s := range strings.Split(ps, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
				if err != nil {
					return fmt.Errorf("--partitions expects a comma separated list of numeric partition ids, but received: %s", ps)
				}
				filters = append(filters, filter{topic: re, lo: n, hi: n})
			}
		} else {
			filters = append(filters, filter{topic: re, lo: 0, hi: -1})
		}
	}
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		return err
	}
	want := map[string]map[int32]bool{}
	var topics []string
	for name, td := range md.Topics {
		if (td.IsInternal || isInternal(name)) && p.has("exclude-internal-topics") {
			continue
		}
		for part := range td.Partitions {
			for _, f := range filters {
				if f.topic.MatchString(name) && int64(part) >= f.lo && (f.hi < 0 || int64(part) <= f.hi) {
					if want[name] == nil {
						want[name] = map[int32]bool{}
						topics = append(topics, name)
					}
					want[name][part] = true
				}
			}
		}
	}
	if len(topics) == 0 {
		return nil
	}
	var listed kadm.ListedOffsets
	switch t := p.str("time", "latest"); t {
	case "-1", "latest":
		listed, err = c.adm.ListEndOffsets(ctx, topics...)
	case "-2", "earliest":
		listed, err = c.adm.ListStartOffsets(ctx, topics...)
	case "-3", "max-timestamp":
		listed, err = c.adm.ListMaxTimestampOffsets(ctx, topics...)
	default:
		ms, perr := strconv.ParseInt(t, 10, 64)
		if perr != nil || ms < 0 {
			return fmt.Errorf("Malformed time argument %s. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp", t)
		}
		listed, err = c.adm.ListOffsetsAfterMilli(ctx, ms, topics...)
	}
	if err != nil {
		return err
	}
	var rows []kadm.ListedOffset
	listed.Each(func(o kadm.ListedOffset) {
		if !want[o.Topic][o.Partition] {
			return
		}
		if o.Err != nil {
			fmt.Fprintf(e.stderr, "Skip getting offsets for topic-partition %s-%d due to error: %v\n", o.Topic, o.Partition, o.Err)
			return
		}
		if o.Offset >= 0 {
			rows = append(rows, o)
		}
	})
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	for _, o := range rows {
		fmt.Fprintf(e.stdout, "%s:%d:%d\n", o.Topic, o.Partition, o.Offset)
	}
	return nil
}

// deleteRecordsFile is the --offset-json-file format.
type deleteRecordsFile struct {
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition *int32 `json:"partition"`
		Offset    *int64 `json:"offset"`
	} `json:"partitions"`
	Version int `json:"version"`
}

func runDeleteRecords(ctx context.Context, e *env, p *parsed) error {
	if err := required(p, "bootstrap-server", "offset-json-file"); err != nil {
		return err
	}
	b, err := os.ReadFile(p.str("offset-json-file", ""))
	if err != nil {
		return err
	}
	var f deleteRecordsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("The input string is not a valid JSON: %v", err)
	}
	if f.Version != 1 {
		return fmt.Errorf("Not supported version field value %d", f.Version)
	}
	offsets := kadm.Offsets{}
	seen := map[string]bool{}
	var dups []string
	for _, pt := range f.Partitions {
		if pt.Topic == "" || pt.Partition == nil || pt.Offset == nil {
			return fmt.Errorf("Offset json file has a partition without topic, partition or offset")
		}
		key := fmt.Sprintf("%s-%d", pt.Topic, *pt.Partition)
		if seen[key] {
			dups = append(dups, key)
		}
		seen[key] = true
		offsets.AddOffset(pt.Topic, *pt.Partition, *pt.Offset, -1)
	}
	if len(dups) > 0 {
		return fmt.Errorf("Offset json file contains duplicate topic partitions: %s", strings.Join(dups, ","))
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	fmt.Fprintln(e.stdout, "Executing records delete operation")
	resps, err := c.adm.DeleteRecords(ctx, offsets)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Records delete operation completed:")
	for _, o := range offsets.Sorted() {
		r, ok := resps.Lookup(o.Topic, o.Partition)
		switch {
		case !ok:
			fmt.Fprintf(e.stdout, "partition: %s-%d\terror: no response\n", o.Topic, o.Partition)
		case r.Err != nil:
			fmt.Fprintf(e.stdout, "partition: %s-%d\terror: %v\n", o.Topic, o.Partition, kafkaError(r.Err, "", o.Topic))
		default:
			fmt.Fprintf(e.stdout, "partition: %s-%d\tlow_watermark: %d\n", o.Topic, o.Partition, r.LowWatermark)
		}
	}
	return nil
}
