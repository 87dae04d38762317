package console

import (
	"cmp"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
)

type topicRow struct {
	Name       string
	Internal   bool
	Partitions int
	RF         int
	UnderRepl  int
	Offline    int
	Messages   int64
	Size       int64
	SizeKnown  bool
	Err        string
}

type topicsData struct {
	Topics       []topicRow
	Query        string
	ShowInternal bool
	Hidden       int
	SizeErr      string
	// Page is this page's number (from 1) of Pages; Total the topics matched, all pages.
	Page, Pages, Total int
	PrevURL, NextURL   string
}

// topicsPerPage bounds the rows of /topics: offsets and log dirs are asked for those rows only,
// so a cluster of thousands of topics still answers in one short page.
const topicsPerPage = 100

// topics lists the topics: partitions, replication factor (the first partition's replica
// count, as kafka-topics describes it), partitions whose ISR is short of their replicas and
// those without a leader, the message count (the sum of end minus start offsets: records
// deleted by retention are not counted, compacted ones still are, as kafka-ui counts), and the
// size of the leaders' logs from DescribeLogDirs.
func (s *Server) topics(r *http.Request) (*view, error) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := topicsData{Query: q, ShowInternal: r.URL.Query().Get("internal") == "1"}
	md, err := s.metadata(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for name, t := range md.Topics {
		if q != "" && !strings.Contains(strings.ToLower(name), strings.ToLower(q)) {
			continue
		}
		if t.IsInternal && !d.ShowInternal {
			d.Hidden++
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	d.Total = len(names)
	d.Pages = max(1, (len(names)+topicsPerPage-1)/topicsPerPage)
	d.Page = 1
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil {
		d.Page = min(max(p, 1), d.Pages)
	}
	names = names[(d.Page-1)*topicsPerPage : min(len(names), d.Page*topicsPerPage)]
	pageURL := func(n int) string {
		v := url.Values{"page": {strconv.Itoa(n)}}
		if q != "" {
			v.Set("q", q)
		}
		if d.ShowInternal {
			v.Set("internal", "1")
		}
		return "/topics?" + v.Encode()
	}
	if d.Page > 1 {
		d.PrevURL = pageURL(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = pageURL(d.Page + 1)
	}
	var starts, ends kadm.ListedOffsets
	var sizes map[string]map[int32]int64
	var startErr, endErr, sizeErr error
	if len(names) > 0 {
		// The three are independent: ask them at once, so the page waits for the slowest only.
		var wg sync.WaitGroup
		wg.Go(func() { starts, startErr = s.adm.ListStartOffsets(ctx, names...) })
		wg.Go(func() { ends, endErr = s.adm.ListEndOffsets(ctx, names...) })
		wg.Go(func() { sizes, sizeErr = s.leaderSizes(r, md, names) })
		wg.Wait()
		// A topic deleted or created a moment ago can be in one node's metadata and not yet in
		// another's: its offsets then fail as one shard of the request. The other rows are
		// still right, so the page shows them and marks that topic, rather than failing whole.
		for _, err := range []error{startErr, endErr} {
			var se *kadm.ShardErrors
			if err != nil && !errors.As(err, &se) {
				return nil, err
			}
		}
		if sizeErr != nil {
			d.SizeErr = errorText(sizeErr)
		}
	}
	for _, name := range names {
		t := md.Topics[name]
		row := topicRow{Name: name, Internal: t.IsInternal, Partitions: len(t.Partitions)}
		if t.Err != nil {
			row.Err = errorText(t.Err)
		}
		if len(t.Partitions) > 0 {
			row.RF = len(t.Partitions[0].Replicas)
		}
		_, row.SizeKnown = sizes[name]
		for _, p := range t.Partitions {
			if len(p.ISR) < len(p.Replicas) {
				row.UnderRepl++
			}
			if p.Leader < 0 {
				row.Offline++
			}
			row.Size += sizes[name][p.Partition]
		}
		row.Messages = messageCount(starts, ends, name)
		if _, ok := ends[name]; !ok && row.Err == "" && len(t.Partitions) > 0 {
			row.Err = "offsets unavailable: " + errorText(cmp.Or(endErr, startErr))
		}
		d.Topics = append(d.Topics, row)
	}
	v := &view{Template: "topics", Title: "Topics", Data: d}
	if t := r.URL.Query().Get("deleted"); t != "" {
		v.Done = "Deleted topic " + t + "."
	}
	return v, nil
}

// messageCount is the sum over a topic's partitions of end minus start offset.
func messageCount(starts, ends kadm.ListedOffsets, topic string) int64 {
	var n int64
	for p, e := range ends[topic] {
		st, ok := starts.Lookup(topic, p)
		if e.Err != nil || !ok || st.Err != nil || e.Offset < st.Offset {
			continue
		}
		n += e.Offset - st.Offset
	}
	return n
}

// leaderSizes asks every broker for its log dirs (one DescribeLogDirs each) and keeps each
// partition's size on its leader: the data, not the data times the replication factor.
func (s *Server) leaderSizes(r *http.Request, md kadm.Metadata, names []string) (map[string]map[int32]int64, error) {
	set := kadm.TopicsSet{}
	for _, n := range names {
		set.Add(n)
	}
	all, err := s.adm.DescribeAllLogDirs(r.Context(), set)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	for broker, dirs := range all {
		for _, dir := range dirs {
			if dir.Err != nil {
				continue
			}
			dir.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				t, ok := md.Topics[p.Topic]
				if !ok || int(p.Partition) >= len(t.Partitions) || t.Partitions[p.Partition].Leader != broker {
					return
				}
				if out[p.Topic] == nil {
					out[p.Topic] = map[int32]int64{}
				}
				out[p.Topic][p.Partition] += p.Size
			})
		}
	}
	return out, nil
}

type partitionRow struct {
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
	Offline   []int32
	Start     int64
	End       int64
	Messages  int64
	UnderRepl bool
	Err       string
}

type configRow struct {
	Name      string
	Value     string
	Source    string
	Sensitive bool
	Default   bool
}

type topicData struct {
	Name       string
	ID         string
	Internal   bool
	RF         int
	Partitions []partitionRow
	Messages   int64
	Configs    []configRow
	ConfigsErr string
	Produced   string
}

// topic is one topic: its partitions with leader, replicas, ISR and offsets, and its configs
// with where each value comes from (DescribeConfigs' source).
func (s *Server) topic(r *http.Request) (*view, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	t, err := s.describeTopic(r, name)
	if err != nil {
		return nil, err
	}
	starts, err := s.adm.ListStartOffsets(ctx, name)
	if err != nil {
		return nil, err
	}
	ends, err := s.adm.ListEndOffsets(ctx, name)
	if err != nil {
		return nil, err
	}
	// Kafka writes topic ids as URL-safe base64 without padding (Uuid.toString).
	d := topicData{Name: name, ID: base64.RawURLEncoding.EncodeToString(t.ID[:]), Internal: t.IsInternal}
	for _, p := range t.Partitions.Sorted() {
		row := partitionRow{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR, Offline: p.OfflineReplicas, Start: -1, End: -1, UnderRepl: len(p.ISR) < len(p.Replicas)}
		if p.Err != nil {
			row.Err = errorText(p.Err)
		}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
			row.Start = o.Offset
		} else if ok {
			row.Err = errorText(o.Err)
		}
		if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
			row.End = o.Offset
		} else if ok {
			row.Err = errorText(o.Err)
		}
		if row.Start >= 0 && row.End >= row.Start {
			row.Messages = row.End - row.Start
			d.Messages += row.Messages
		}
		d.Partitions = append(d.Partitions, row)
	}
	if len(t.Partitions) > 0 {
		d.RF = len(t.Partitions[0].Replicas)
	}
	rcs, err := s.adm.DescribeTopicConfigs(ctx, name)
	if err == nil {
		var rc kadm.ResourceConfig
		if rc, err = rcs.On(name, nil); err == nil {
			err = rc.Err
		}
		for _, c := range rc.Configs {
			d.Configs = append(d.Configs, configRow{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive, Default: c.Source.String() == "DEFAULT_CONFIG"})
		}
		sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Name < d.Configs[j].Name })
	}
	if err != nil {
		d.ConfigsErr = errorText(err)
	}
	return &view{Template: "topic", Title: "Topic " + name, Data: d, Done: doneText(r.URL.Query())}, nil
}
