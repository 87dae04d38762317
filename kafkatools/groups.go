package kafkatools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func init() {
	register(&tool{
		name:    "kafka-consumer-groups",
		summary: "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, or reset consumer group offsets.",
		options: []option{
			{name: "bootstrap-server", arg: "String: server to connect to", help: "REQUIRED: The server(s) to connect to."},
			{name: "command-config", arg: "String: command config property file", help: "Property file containing configs to be passed to Admin Client and Consumer."},
			{name: "list", help: "List all consumer groups."},
			{name: "describe", help: "Describe consumer group and list offset lag (number of messages not yet processed) related to given group."},
			{name: "delete", help: "Pass in groups to delete topic partition offsets and ownership information over the entire consumer group."},
			{name: "reset-offsets", help: "Reset offsets of consumer group. Supports one consumer group at the time, and instances should be inactive."},
			{name: "group", arg: "String: consumer group", help: "The consumer group we wish to act on (repeatable)."},
			{name: "all-groups", help: "Apply to all consumer groups."},
			{name: "topic", arg: "String: topic", help: "The topic whose consumer group information should be deleted or topic whose should be included in the reset offset process (topic or topic:partitions)."},
			{name: "all-topics", help: "Consider all topics assigned to a group in the `reset-offsets` process."},
			{name: "members", help: "Describe members of the group."},
			{name: "verbose", help: "Provide additional information, if any, when describing the group."},
			{name: "offsets", help: "Describe the group and list all topic partitions in the group along with their offset lag. This is the default sub-action."},
			{name: "state", arg: "String", help: "When specified with '--describe', includes the state of the group. When specified with '--list', filters by the given states (comma-separated)."},
			{name: "dry-run", help: "Only show results without executing changes on Consumer Groups. Supported operations: reset-offsets."},
			{name: "execute", help: "Execute operation. Supported operations: reset-offsets."},
			{name: "to-earliest", help: "Reset offsets to earliest offset."},
			{name: "to-latest", help: "Reset offsets to latest offset."},
			{name: "to-current", help: "Reset offsets to current offset."},
			{name: "to-offset", arg: "Long: offset", help: "Reset offsets to a specific offset."},
			{name: "shift-by", arg: "Long: number-of-offsets", help: "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative."},
			{name: "to-datetime", arg: "String: datetime", help: "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'"},
			{name: "by-duration", arg: "String: duration", help: "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"},
			{name: "timeout", arg: "Long: timeout (ms)", help: "The timeout that can be set for some use cases. (default: 5000)"},
		},
		run: runGroups,
		report: func(e *env, _ []string, err error) {
			fmt.Fprintln(e.stdout, "\nError: Executing consumer group command failed due to "+err.Error())
		},
	})
}

func runGroups(ctx context.Context, e *env, p *parsed) error {
	if err := needOne(p, "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets", "list", "describe", "delete", "reset-offsets"); err != nil {
		return err
	}
	if err := required(p, "bootstrap-server"); err != nil {
		return err
	}
	if (p.has("describe") || p.has("delete") || p.has("reset-offsets")) && !p.has("group") && !p.has("all-groups") {
		return usagef("Option [%s] takes one of these options: [all-groups], [group]", map[bool]string{true: "describe", false: map[bool]string{true: "delete", false: "reset-offsets"}[p.has("delete")]}[p.has("describe")])
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	groups := p.all("group")
	if p.has("all-groups") {
		listed, err := c.adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		groups = listed.Groups()
		sort.Strings(groups)
	}
	switch {
	case p.has("list"):
		return listGroups(ctx, e, c, p)
	case p.has("describe"):
		return describeGroups(ctx, e, c, p, groups)
	case p.has("delete"):
		return deleteGroups(ctx, e, c, groups)
	default:
		return resetOffsets(ctx, e, c, p, groups)
	}
}

func listGroups(ctx context.Context, e *env, c *connection, p *parsed) error {
	var states []string
	if s := p.str("state", ""); s != "" {
		for _, st := range strings.Split(s, ",") {
			st = strings.TrimSpace(st)
			ok := false
			for _, v := range []string{"PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"} {
				if strings.EqualFold(st, v) {
					states, ok = append(states, v), true
				}
			}
			if !ok {
				return usagef("Invalid state list '%s'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, Dead, Empty", s)
			}
		}
	}
	listed, err := c.adm.ListGroups(ctx, states...)
	if err != nil {
		return err
	}
	var gs []kadm.ListedGroup
	for _, g := range listed {
		if g.ProtocolType == "consumer" || g.ProtocolType == "" {
			gs = append(gs, g)
		}
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].Group < gs[j].Group })
	if !p.has("state") {
		for _, g := range gs {
			fmt.Fprintln(e.stdout, g.Group)
		}
		return nil
	}
	width := 15
	for _, g := range gs {
		width = max(width, len(g.Group))
	}
	width += 10
	fmt.Fprintf(e.stdout, "%-*s %-20s\n", width, "GROUP", "STATE")
	for _, g := range gs {
		fmt.Fprintf(e.stdout, "%-*s %-20s\n", width, g.Group, g.State)
	}
	return nil
}

// groupMissing prints Kafka's notes for a group that is not stable, and says whether there is
// nothing to print.
func groupNotes(e *env, group, state string, rows int) bool {
	switch state {
	case "Dead", "":
		fmt.Fprintf(e.stdout, "\nError: Consumer group '%s' does not exist.\n", group)
		return false
	case "Empty":
		fmt.Fprintf(e.stderr, "\nConsumer group '%s' has no active members.\n", group)
	case "PreparingRebalance", "CompletingRebalance":
		fmt.Fprintf(e.stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", group)
	}
	return rows > 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func describeGroups(ctx context.Context, e *env, c *connection, p *parsed, groups []string) error {
	described, err := c.adm.DescribeGroups(ctx, groups...)
	if err != nil {
		return err
	}
	for _, g := range groups {
		dg, ok := described[g]
		if !ok {
			continue
		}
		if dg.Err != nil {
			if errors.Is(dg.Err, kerr.GroupIDNotFound) {
				fmt.Fprintf(e.stdout, "\nError: Consumer group '%s' does not exist.\n", g)
				continue
			}
			return dg.Err
		}
		switch {
		case p.has("state"):
			if !groupNotes(e, g, dg.State, 1) {
				continue
			}
			coord := fmt.Sprintf("%s:%d  (%d)", dg.Coordinator.Host, dg.Coordinator.Port, dg.Coordinator.NodeID)
			w := max(25, len(coord))
			// Kafka pads the GROUP column to the coordinator's width, and so do we.
			line := func(a ...any) { fmt.Fprintf(e.stdout, "\n%-*s %-25s %-20s %-15s %v", append([]any{w}, a...)...) }
			line("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
			line(g, coord, dg.Protocol, dg.State, len(dg.Members))
			fmt.Fprintln(e.stdout)
		case p.has("members"):
			if !groupNotes(e, g, dg.State, len(dg.Members)) {
				continue
			}
			printMembers(e.stdout, g, dg, p.has("verbose"))
		default:
			if err := printGroupOffsets(ctx, e, c, g, dg); err != nil {
				return err
			}
		}
	}
	return nil
}

func printMembers(w io.Writer, g string, dg kadm.DescribedGroup, verbose bool) {
	gw, cw, hw, clw := max(15, len(g)), 15, 15, 15
	for _, m := range dg.Members {
		cw, hw, clw = max(cw, len(m.MemberID)), max(hw, len(m.ClientHost)), max(clw, len(m.ClientID))
	}
	fmt.Fprintf(w, "\n%-*s %-*s %-*s %-*s %-15s ", gw, "GROUP", cw, "CONSUMER-ID", hw, "HOST", clw, "CLIENT-ID", "#PARTITIONS")
	if verbose {
		fmt.Fprint(w, "ASSIGNMENT")
	}
	fmt.Fprintln(w)
	for _, m := range dg.Members {
		byTopic := map[string][]int32{}
		n := 0
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				byTopic[t.Topic] = append(byTopic[t.Topic], t.Partitions...)
				n += len(t.Partitions)
			}
		}
		fmt.Fprintf(w, "%-*s %-*s %-*s %-*s %-15d ", gw, g, cw, m.MemberID, hw, m.ClientHost, clw, m.ClientID, n)
		if verbose {
			var parts []string
			for t, ps := range byTopic {
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				parts = append(parts, t+"("+joinIDs(ps)+")")
			}
			sort.Strings(parts)
			fmt.Fprint(w, dash(strings.Join(parts, ", ")))
		}
		fmt.Fprintln(w)
	}
}

// offsetRow is one line of `--describe`'s offsets table.
type offsetRow struct {
	topic                    string
	partition                int32
	current, end, lag        string
	consumer, host, clientID string
}

func printGroupOffsets(ctx context.Context, e *env, c *connection, g string, dg kadm.DescribedGroup) error {
	committed, err := c.adm.FetchOffsets(ctx, g)
	if err != nil {
		return err
	}
	if err := committed.Error(); err != nil {
		return err
	}
	owner := map[string]map[int32]kadm.DescribedGroupMember{}
	for _, m := range dg.Members {
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				if owner[t.Topic] == nil {
					owner[t.Topic] = map[int32]kadm.DescribedGroupMember{}
				}
				for _, part := range t.Partitions {
					owner[t.Topic][part] = m
				}
			}
		}
	}
	topics := map[string]bool{}
	for t := range owner {
		topics[t] = true
	}
	committed.Each(func(o kadm.OffsetResponse) { topics[o.Topic] = true })
	var names []string
	for t := range topics {
		names = append(names, t)
	}
	ends := kadm.ListedOffsets{}
	if len(names) > 0 {
		if ends, err = c.adm.ListEndOffsets(ctx, names...); err != nil {
			return err
		}
	}
	var rows []offsetRow
	seen := map[string]map[int32]bool{}
	add := func(t string, part int32) {
		if seen[t] == nil {
			seen[t] = map[int32]bool{}
		}
		if seen[t][part] {
			return
		}
		seen[t][part] = true
		r := offsetRow{topic: t, partition: part, current: "-", end: "-", lag: "-", consumer: "-", host: "-", clientID: "-"}
		cur, hasCur := committed.Lookup(t, part)
		hasCur = hasCur && cur.Err == nil && cur.At >= 0
		if hasCur {
			r.current = strconv.FormatInt(cur.At, 10)
		}
		if lo, ok := ends.Lookup(t, part); ok && lo.Err == nil {
			r.end = strconv.FormatInt(lo.Offset, 10)
			if hasCur {
				r.lag = strconv.FormatInt(lo.Offset-cur.At, 10)
			}
		}
		if m, ok := owner[t][part]; ok {
			r.consumer, r.host, r.clientID = m.MemberID, m.ClientHost, m.ClientID
		}
		rows = append(rows, r)
	}
	for t, ps := range owner {
		for part := range ps {
			add(t, part)
		}
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			add(o.Topic, o.Partition)
		}
	})
	// Kafka lists the assigned partitions member by member, then the unassigned ones; sorting by
	// topic and partition is stable between runs, which scripts comparing outputs need.
	sort.Slice(rows, func(i, j int) bool {
		if (rows[i].consumer == "-") != (rows[j].consumer == "-") {
			return rows[j].consumer == "-"
		}
		if rows[i].topic != rows[j].topic {
			return rows[i].topic < rows[j].topic
		}
		return rows[i].partition < rows[j].partition
	})
	if !groupNotes(e, g, dg.State, len(rows)) {
		return nil
	}
	gw, tw, cw, hw := max(15, len(g)), 15, 15, 15
	for _, r := range rows {
		tw, cw, hw = max(tw, len(r.topic)), max(cw, len(r.consumer)), max(hw, len(r.host))
	}
	line := func(a ...any) {
		fmt.Fprintf(e.stdout, "\n%-*s %-*s %-10v %-15s %-15s %-15s %-*s %-*s %s", gw, a[0], tw, a[1], a[2], a[3], a[4], a[5], cw, a[6], hw, a[7], a[8])
	}
	line("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	for _, r := range rows {
		line(g, r.topic, r.partition, r.current, r.end, r.lag, r.consumer, r.host, r.clientID)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func deleteGroups(ctx context.Context, e *env, c *connection, groups []string) error {
	resps, err := c.adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return err
	}
	var ok, failed []string
	for _, g := range groups {
		r, found := resps[g]
		switch {
		case !found:
		case r.Err != nil:
			msg := r.Err.Error()
			var ke *kerr.Error
			if errors.As(r.Err, &ke) {
				msg = "org.apache.kafka.common.errors." + javaException(ke) + ": " + ke.Description
			}
			failed = append(failed, fmt.Sprintf("* Group '%s' could not be deleted due to: %s", g, msg))
		default:
			ok = append(ok, g)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(e.stdout, "Deletion of requested consumer groups ('%s') was successful.\n", strings.Join(ok, "', '"))
		return nil
	}
	fmt.Fprintln(e.stdout, "Deletion of some consumer groups failed:")
	for _, f := range failed {
		fmt.Fprintln(e.stdout, f)
	}
	if len(ok) > 0 {
		fmt.Fprintf(e.stdout, "\nThese consumer groups were deleted successfully: '%s'\n", strings.Join(ok, "', '"))
	}
	return nil
}

// javaException names the Java exception class for a Kafka error (GROUP_ID_NOT_FOUND ->
// GroupIdNotFoundException), as the Java admin client's messages do.
func javaException(ke *kerr.Error) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(ke.Message), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return strings.TrimSuffix(b.String(), "Exception") + "Exception"
}

// resetTarget computes the new offset of one partition.
type resetTarget func(t string, part int32, current int64, hasCurrent bool) (int64, error)

func resetOffsets(ctx context.Context, e *env, c *connection, p *parsed, groups []string) error {
	scenarios := []string{"to-earliest", "to-latest", "to-current", "to-offset", "shift-by", "to-datetime", "by-duration"}
	if err := needOne(p, "Option '[reset-offsets]' requires one of the following scenarios: [to-offset], [shift-by], [to-datetime], [by-duration], [to-earliest], [to-latest], [to-current]", scenarios...); err != nil {
		return err
	}
	if !p.has("topic") && !p.has("all-topics") {
		return usagef("Option [reset-offsets] takes one of these options: [all-topics], [topic]")
	}
	if !p.has("dry-run") && !p.has("execute") {
		fmt.Fprintln(e.stdout, "WARN: No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.")
	}
	type groupResult struct {
		group   string
		offsets kadm.Offsets
	}
	var results []groupResult
	for _, g := range groups {
		dg, err := c.adm.DescribeGroups(ctx, g)
		if err != nil {
			return err
		}
		if d := dg[g]; d.State != "Empty" && d.State != "Dead" && d.State != "" && d.Err == nil {
			return fmt.Errorf("Assignments can only be reset if the group '%s' is inactive, but the current state is %s.", g, d.State)
		}
		committed, err := c.adm.FetchOffsets(ctx, g)
		if err != nil {
			return err
		}
		parts, err := resetPartitions(ctx, c, p, committed)
		if err != nil {
			return err
		}
		target, err := resetTargetFor(ctx, c, p, parts)
		if err != nil {
			return err
		}
		offsets := kadm.Offsets{}
		for t, ps := range parts {
			for _, part := range ps {
				cur, has := committed.Lookup(t, part)
				n, err := target(t, part, cur.At, has && cur.Err == nil && cur.At >= 0)
				if err != nil {
					return err
				}
				offsets.AddOffset(t, part, n, -1)
			}
		}
		results = append(results, groupResult{g, offsets})
	}
	if p.has("execute") {
		for _, r := range results {
			resp, err := c.adm.CommitOffsets(ctx, r.group, r.offsets)
			if err != nil {
				return err
			}
			if err := resp.Error(); err != nil {
				return err
			}
		}
	}
	printed := false
	for _, r := range results {
		for _, o := range r.offsets.Sorted() {
			if !printed {
				fmt.Fprintf(e.stdout, "\n%-30s %-30s %-10s %-15s", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
				printed = true
			}
			fmt.Fprintf(e.stdout, "\n%-30s %-30s %-10d %-15d", r.group, o.Topic, o.Partition, o.At)
		}
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// resetPartitions is what --topic (topic, or topic:0,1) or --all-topics (the group's committed
// partitions) names.
func resetPartitions(ctx context.Context, c *connection, p *parsed, committed kadm.OffsetResponses) (map[string][]int32, error) {
	out := map[string][]int32{}
	if p.has("all-topics") {
		committed.Each(func(o kadm.OffsetResponse) { out[o.Topic] = append(out[o.Topic], o.Partition) })
		return out, nil
	}
	var whole []string
	for _, t := range p.all("topic") {
		name, list, ok := strings.Cut(t, ":")
		if !ok {
			whole = append(whole, name)
			continue
		}
		for _, s := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil {
				return nil, usagef("Invalid partition %q in --topic %s", s, t)
			}
			out[name] = append(out[name], int32(n))
		}
	}
	if len(whole) > 0 {
		td, err := c.adm.ListTopics(ctx, whole...)
		if err != nil {
			return nil, err
		}
		for _, t := range whole {
			d, ok := td[t]
			if !ok || d.Err != nil {
				return nil, fmt.Errorf("org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition. (topic %s)", t)
			}
			for _, pd := range d.Partitions.Sorted() {
				out[t] = append(out[t], pd.Partition)
			}
		}
	}
	return out, nil
}

func resetTargetFor(ctx context.Context, c *connection, p *parsed, parts map[string][]int32) (resetTarget, error) {
	var topics []string
	for t := range parts {
		topics = append(topics, t)
	}
	starts, err := c.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	ends, err := c.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	bound := func(t string, part int32) (int64, int64, error) {
		s, ok1 := starts.Lookup(t, part)
		en, ok2 := ends.Lookup(t, part)
		if !ok1 || !ok2 || s.Err != nil || en.Err != nil {
			return 0, 0, fmt.Errorf("Error getting starting offset of topic partition: %s-%d", t, part)
		}
		return s.Offset, en.Offset, nil
	}
	// clamp keeps a target inside the log, as Kafka does with a warning.
	clamp := func(t string, part int32, n int64) (int64, error) {
		lo, hi, err := bound(t, part)
		if err != nil {
			return 0, err
		}
		return min(max(n, lo), hi), nil
	}
	switch {
	case p.has("to-earliest"):
		return func(t string, part int32, _ int64, _ bool) (int64, error) {
			lo, _, err := bound(t, part)
			return lo, err
		}, nil
	case p.has("to-latest"):
		return func(t string, part int32, _ int64, _ bool) (int64, error) {
			_, hi, err := bound(t, part)
			return hi, err
		}, nil
	case p.has("to-current"):
		return func(t string, part int32, cur int64, has bool) (int64, error) {
			if has {
				return cur, nil
			}
			_, hi, err := bound(t, part)
			return hi, err
		}, nil
	case p.has("to-offset"):
		n, err := strconv.ParseInt(p.str("to-offset", ""), 10, 64)
		if err != nil {
			return nil, usagef("Cannot parse argument '%s' of option to-offset", p.str("to-offset", ""))
		}
		return func(t string, part int32, _ int64, _ bool) (int64, error) { return clamp(t, part, n) }, nil
	case p.has("shift-by"):
		n, err := strconv.ParseInt(p.str("shift-by", ""), 10, 64)
		if err != nil {
			return nil, usagef("Cannot parse argument '%s' of option shift-by", p.str("shift-by", ""))
		}
		return func(t string, part int32, cur int64, has bool) (int64, error) {
			if !has {
				_, hi, err := bound(t, part)
				if err != nil {
					return 0, err
				}
				cur = hi
			}
			return clamp(t, part, cur+n)
		}, nil
	default:
		var at time.Time
		if p.has("to-datetime") {
			s := p.str("to-datetime", "")
			var err error
			at, err = parseKafkaDateTime(s)
			if err != nil {
				return nil, err
			}
		} else {
			d, err := parseISODuration(p.str("by-duration", ""))
			if err != nil {
				return nil, err
			}
			at = time.Now().Add(-d)
		}
		after, err := c.adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topics...)
		if err != nil {
			return nil, err
		}
		return func(t string, part int32, _ int64, _ bool) (int64, error) {
			lo, ok := after.Lookup(t, part)
			if !ok || lo.Err != nil || lo.Offset < 0 {
				_, hi, err := bound(t, part)
				return hi, err
			}
			return lo.Offset, nil
		}, nil
	}
}

// parseKafkaDateTime reads --to-datetime as Kafka's Utils.getDateTime: YYYY-MM-DDTHH:mm:SS.sss
// with an optional zone (Z or ±HH:MM); without a zone, local time.
func parseKafkaDateTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format or is malformed: %s", s)
}

// parseISODuration reads a PnDTnHnMnS duration (Java's Duration.parse).
func parseISODuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("Text cannot be parsed to a Duration: %s", s)
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "P") {
		return 0, bad
	}
	u = u[1:]
	var d time.Duration
	inTime := false
	num := ""
	for _, r := range u {
		switch {
		case r == 'T':
			inTime = true
		case r >= '0' && r <= '9' || r == '.' || r == '-':
			num += string(r)
		default:
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, bad
			}
			num = ""
			unit := map[rune]time.Duration{'D': 24 * time.Hour, 'H': time.Hour, 'M': time.Minute, 'S': time.Second}[r]
			if unit == 0 || (!inTime && r != 'D') || (inTime && r == 'D') {
				return 0, bad
			}
			d += time.Duration(f * float64(unit))
		}
	}
	if num != "" {
		return 0, bad
	}
	return d, nil
}
