package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// tailBatch bounds the records one poll of the live tail returns per partition.
const tailBatch = 100

type tailRecord struct {
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp string       `json:"timestamp"`
	Key       shown        `json:"key"`
	Value     shown        `json:"value"`
	Headers   []tailHeader `json:"headers"`
}

type tailHeader struct {
	Key   string `json:"key"`
	Value shown  `json:"value"`
}

type tailAnswer struct {
	// Next is where the following poll starts: partition:offset, comma-separated.
	Next    string       `json:"next"`
	Records []tailRecord `json:"records"`
	Error   string       `json:"error,omitempty"`
}

// tail is the messages page's live tail, polled by console.js: GET
// /topics/NAME/tail?partition=all|N&format=F&next=P:O,... answers JSON with the records from
// next up to the end offsets seen now (at most tailBatch a partition) and the next position.
// Without next it answers the end offsets, so the tail shows what arrives after it started. The
// script puts every field in the page with textContent: a record stays text there too.
func (s *Server) tail(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("console: tail panicked", "path", r.URL.Path, "panic", fmt.Sprint(p))
			http.Error(w, `{"error":"internal error (see the console's log)"}`, http.StatusInternalServerError)
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), min(s.cfg.RequestTimeout, 5*time.Second))
	defer cancel()
	answer := func(status int, a tailAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(a)
	}
	name := r.PathValue("name")
	q := r.URL.Query()
	format := orDefault(q.Get("format"), "auto")
	switch format {
	case "auto", "text", "json", "hex":
	default:
		answer(http.StatusBadRequest, tailAnswer{Error: "format: want auto, text, json or hex"})
		return
	}
	next := map[int32]int64{}
	if n := q.Get("next"); n != "" {
		for _, po := range strings.Split(n, ",") {
			ps, os, ok := strings.Cut(po, ":")
			p, err1 := strconv.ParseInt(ps, 10, 32)
			o, err2 := strconv.ParseInt(os, 10, 64)
			if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
				answer(http.StatusBadRequest, tailAnswer{Error: "next: want partition:offset, comma-separated"})
				return
			}
			next[int32(p)] = o
		}
	}
	ends, err := s.adm.ListEndOffsets(ctx, name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		answer(http.StatusBadGateway, tailAnswer{Error: errorText(err)})
		return
	}
	if len(ends[name]) == 0 {
		answer(http.StatusNotFound, tailAnswer{Error: "UNKNOWN_TOPIC_OR_PARTITION: no topic " + name})
		return
	}
	want := func(p int32) bool {
		return q.Get("partition") == "" || q.Get("partition") == "all" || q.Get("partition") == strconv.Itoa(int(p))
	}
	from, until := map[int32]int64{}, map[int32]int64{}
	started := len(next) > 0
	for p, e := range ends[name] {
		if !want(p) {
			continue
		}
		o, ok := next[p]
		if !started || !ok {
			// A partition the tail has no position for (the first poll, or one added since)
			// starts at its end now.
			next[p] = e.Offset
			continue
		}
		if o < e.Offset {
			from[p], until[p] = o, e.Offset
		}
	}
	a := tailAnswer{Records: []tailRecord{}}
	recs, reached, _, err := s.read(ctx, name, from, until, tailBatch)
	if err != nil && !errors.Is(err, ctx.Err()) {
		a.Error = errorText(err)
	}
	sortRecords(recs)
	for _, rec := range recs {
		row := rowOf(rec, format, false)
		tr := tailRecord{Partition: row.Partition, Offset: row.Offset, Timestamp: funcs["time"].(func(time.Time) string)(row.Timestamp), Key: row.Key, Value: row.Value, Headers: []tailHeader{}}
		for _, h := range row.Headers {
			tr.Headers = append(tr.Headers, tailHeader(h))
		}
		a.Records = append(a.Records, tr)
	}
	for p, o := range reached {
		next[p] = max(next[p], o)
	}
	ps := make([]int32, 0, len(next))
	for p := range next {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(p)) + ":" + strconv.FormatInt(next[p], 10))
	}
	a.Next = b.String()
	answer(http.StatusOK, a)
}
