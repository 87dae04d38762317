package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type messageRow struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       shown
	Value     shown
	Headers   []headerRow
}

type headerRow struct {
	Key   string
	Value shown
}

type messagesData struct {
	Topic      string
	Partitions []int32
	Partition  string // "all" or a number
	Seek       string // beginning, latest, offset, time
	Offset     string
	Time       string
	Limit      int
	Format     string
	Full       bool
	Messages   []messageRow
	Note       string
	Err        string
}

// messages browses a topic's records: from the beginning, the end (the last Limit records),
// an offset or a time, in one partition or all; the records of one page at most Limit, read by
// a short-lived consumer that assigns the partitions itself (no group, nothing committed) and
// stops when each partition reaches the end offset the page saw first, at Limit, or at
// FetchMaxBytes.
func (s *Server) messages(r *http.Request) (*view, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	q := r.URL.Query()
	d := messagesData{Topic: name, Partition: orDefault(q.Get("partition"), "all"), Seek: orDefault(q.Get("seek"), "beginning"),
		Offset: q.Get("offset"), Time: q.Get("time"), Format: orDefault(q.Get("format"), "auto"), Limit: 100, Full: q.Get("full") == "1"}
	v := &view{Template: "messages", Title: "Messages of " + name, Data: &d}
	t, err := s.describeTopic(r, name)
	if err != nil {
		return nil, err
	}
	for _, p := range t.Partitions.Sorted() {
		d.Partitions = append(d.Partitions, p.Partition)
	}
	fail := func(format string, args ...any) (*view, error) {
		d.Err = fmt.Sprintf(format, args...)
		v.Status = http.StatusBadRequest
		return v, nil
	}
	if d.Full {
		// A page of whole values is a page of a few records: the byte budget still bounds it.
		d.Limit = 1
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > s.cfg.MaxMessages {
			return fail("limit: want a whole number from 1 to %d", s.cfg.MaxMessages)
		}
		d.Limit = n
		if d.Full && n > maxFull {
			return fail("limit: at most %d records with full=1 (whole values)", maxFull)
		}
	}
	switch d.Format {
	case "auto", "text", "json", "hex":
	default:
		return fail("format: want auto, text, json or hex")
	}
	parts := d.Partitions
	if d.Partition != "all" {
		p, err := strconv.ParseInt(d.Partition, 10, 32)
		if err != nil || p < 0 || int(p) >= len(d.Partitions) {
			return fail("partition: want all or a partition from 0 to %d", len(d.Partitions)-1)
		}
		parts = []int32{int32(p)}
	}
	starts, err := s.adm.ListStartOffsets(ctx, name)
	if err != nil {
		return nil, err
	}
	ends, err := s.adm.ListEndOffsets(ctx, name)
	if err != nil {
		return nil, err
	}
	var at kadm.ListedOffsets
	switch d.Seek {
	case "beginning", "latest":
	case "offset":
		if _, err := strconv.ParseInt(d.Offset, 10, 64); err != nil {
			return fail("offset: want a whole number")
		}
	case "time":
		ts, err := parseTime(d.Time)
		if err != nil {
			return fail("%s", err)
		}
		if at, err = s.adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), name); err != nil {
			return nil, err
		}
	default:
		return fail("seek: want beginning, latest, offset or time")
	}
	// Where each partition's read starts and where it ends (the end offset seen now).
	from, until := map[int32]int64{}, map[int32]int64{}
	for _, p := range parts {
		st, ok1 := starts.Lookup(name, p)
		en, ok2 := ends.Lookup(name, p)
		if !ok1 || !ok2 || st.Err != nil || en.Err != nil {
			d.Note += "partition " + strconv.Itoa(int(p)) + " has no offsets now; "
			continue
		}
		o := st.Offset
		switch d.Seek {
		case "latest":
			o = max(st.Offset, en.Offset-int64(d.Limit))
		case "offset":
			n, _ := strconv.ParseInt(d.Offset, 10, 64)
			o = min(max(n, st.Offset), en.Offset)
		case "time":
			if a, ok := at.Lookup(name, p); ok && a.Err == nil && a.Offset >= 0 {
				o = max(a.Offset, st.Offset)
			} else {
				o = en.Offset
			}
		}
		if o < en.Offset {
			from[p], until[p] = o, en.Offset
		}
	}
	recs, _, cut, err := s.read(ctx, name, from, until, d.Limit)
	if err != nil {
		return nil, err
	}
	// One page across partitions: by time, then partition and offset; "latest" keeps the last.
	sortRecords(recs)
	if len(recs) > d.Limit {
		if d.Seek == "latest" {
			recs = recs[len(recs)-d.Limit:]
		} else {
			recs = recs[:d.Limit]
		}
	}
	for _, rec := range recs {
		d.Messages = append(d.Messages, rowOf(rec, d.Format, d.Full))
	}
	if cut {
		d.Note += "stopped at the page's byte or time budget; narrow the partition or the offset to see more; "
	}
	return v, nil
}

// read consumes [from[p], until[p]) of each partition, at most limit records per partition,
// until every partition is done, the fetched bytes pass FetchMaxBytes, or the context's time
// is nearly out (cut is then true and what was read is returned). reached is, for each
// partition read, the offset after the last one seen, transaction markers included.
func (s *Server) read(ctx context.Context, topic string, from, until map[int32]int64, limit int) (recs []*kgo.Record, reached map[int32]int64, cut bool, err error) {
	reached = map[int32]int64{}
	if len(from) == 0 {
		return nil, reached, false, nil
	}
	offsets := map[int32]kgo.Offset{}
	for p, o := range from {
		offsets[p] = kgo.NewOffset().At(o)
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ClientID("minikraft-console"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(s.cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(min(s.cfg.FetchMaxBytes, 1<<20)),
		kgo.FetchMaxWait(250 * time.Millisecond),
		// A transaction's commit or abort marker can be a partition's last offset: seen, it
		// says the partition is read to its end (without it the page waited out its budget).
		kgo.KeepControlRecords(),
	}, s.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, reached, false, err
	}
	defer cl.Close()
	// Leave time to render what was read before the page's own deadline.
	deadline := time.Now().Add(s.cfg.RequestTimeout / 2)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < time.Until(deadline) {
		deadline = time.Now().Add(time.Until(dl) / 2)
	}
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	count := map[int32]int{}
	var bytes int64
	pending := len(from)
	for pending > 0 {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			return recs, reached, true, nil
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.Canceled) && !errors.Is(fe.Err, context.DeadlineExceeded) {
				return nil, reached, false, fe.Err
			}
		}
		fs.EachRecord(func(rec *kgo.Record) {
			p := rec.Partition
			end, ok := until[p]
			if !ok || rec.Offset >= end || count[p] >= limit {
				return
			}
			reached[p] = rec.Offset + 1
			if !rec.Attrs.IsControl() {
				recs = append(recs, rec)
				count[p]++
				bytes += int64(len(rec.Key) + len(rec.Value))
			}
			if rec.Offset >= end-1 || count[p] >= limit {
				delete(until, p)
				pending--
			}
		})
		if bytes >= int64(s.cfg.FetchMaxBytes) {
			return recs, reached, true, nil
		}
	}
	return recs, reached, false, nil
}

// sortRecords orders records across partitions by time, then partition and offset.
func sortRecords(recs []*kgo.Record) {
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.Before(b.Timestamp)
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
}

// maxFull bounds the records of a page that shows values whole.
const maxFull = 10

// rowOf is one record as the page shows it; a value cut short links to the record alone, whole.
func rowOf(rec *kgo.Record, format string, full bool) messageRow {
	link := "/topics/" + url.PathEscape(rec.Topic) + "/messages?" + url.Values{"partition": {strconv.Itoa(int(rec.Partition))},
		"seek": {"offset"}, "offset": {strconv.FormatInt(rec.Offset, 10)}, "limit": {"1"}, "full": {"1"}, "format": {format}}.Encode()
	show := func(b []byte) shown {
		sh := render(b, format, full)
		if sh.Cut {
			sh.Link = link
		}
		return sh
	}
	row := messageRow{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp, Key: show(rec.Key), Value: show(rec.Value)}
	for _, h := range rec.Headers {
		row.Headers = append(row.Headers, headerRow{Key: h.Key, Value: show(h.Value)})
	}
	return row
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
