package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// changeGroup is the group page's POST: action=reset moves the group's committed offsets
// (to=earliest, latest, time or offset; topic= one topic or all the group has commits on),
// action=delete deletes the group. Both need a group without members, as Kafka's
// kafka-consumer-groups does: the coordinator refuses a commit outside a generation
// (UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION) and a delete of a live group (NON_EMPTY_GROUP), and the
// page says so before asking.
func (s *Server) changeGroup(r *http.Request) (*view, error) {
	name := r.PathValue("name")
	refuse := func(err error) (*view, error) {
		v, gerr := s.group(r)
		if gerr != nil {
			return nil, gerr
		}
		v.Error, v.Status = errorText(err), http.StatusBadRequest
		return v, nil
	}
	ctx := r.Context()
	described, err := s.adm.DescribeGroups(ctx, name)
	if err != nil {
		return nil, err
	}
	g, ok := described[name]
	if !ok {
		return nil, httpError{http.StatusNotFound, kerr.GroupIDNotFound.Message + ": no group " + name}
	}
	if g.Err != nil {
		return refuse(g.Err)
	}
	if len(g.Members) > 0 {
		return refuse(badRequest("%s: the group has %d member(s) (state %s); stop its consumers first", kerr.NonEmptyGroup.Message, len(g.Members), g.State))
	}
	switch r.PostFormValue("action") {
	case "delete":
		if r.PostFormValue("confirm") != name {
			return refuse(badRequest("the group was not deleted: type its name, %s, to confirm", name))
		}
		resp, err := s.adm.DeleteGroup(ctx, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return refuse(err)
		}
		return &view{Redirect: "/groups?deleted=" + url.QueryEscape(name)}, nil
	case "reset":
		n, err := s.resetOffsets(r, name)
		if err != nil {
			return refuse(err)
		}
		return &view{Redirect: "/groups/" + url.PathEscape(name) + "?reset=" + strconv.Itoa(n)}, nil
	}
	return refuse(badRequest("action: want reset or delete"))
}

// resetOffsets commits the form's new offsets for the group (no generation: the group is empty)
// and says how many partitions moved. Every partition of the chosen topics gets one, clamped to
// the partition's start and end offsets, as kafka-consumer-groups --reset-offsets does.
func (s *Server) resetOffsets(r *http.Request, group string) (int, error) {
	ctx := r.Context()
	topic := strings.TrimSpace(r.PostFormValue("topic"))
	to := r.PostFormValue("to")
	var topics []string
	if topic == "" || topic == "all" {
		committed, err := s.adm.FetchOffsets(ctx, group)
		if err != nil {
			return 0, err
		}
		topics = committed.Offsets().TopicsSet().Topics()
		if len(topics) == 0 {
			return 0, badRequest("the group has no committed offsets: name a topic to reset")
		}
	} else {
		topics = []string{topic}
	}
	sort.Strings(topics)
	starts, err := s.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return 0, err
	}
	ends, err := s.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, err
	}
	var at kadm.ListedOffsets
	var offset int64
	switch to {
	case "earliest", "latest":
	case "offset":
		if offset, err = strconv.ParseInt(strings.TrimSpace(r.PostFormValue("offset")), 10, 64); err != nil || offset < 0 {
			return 0, badRequest("offset: want a whole number")
		}
	case "time":
		ts, err := parseTime(r.PostFormValue("time"))
		if err != nil {
			return 0, err
		}
		if at, err = s.adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), topics...); err != nil {
			return 0, err
		}
	default:
		return 0, badRequest("to: want earliest, latest, time or offset")
	}
	os := kadm.Offsets{}
	for _, t := range topics {
		for p, e := range ends[t] {
			st, ok := starts.Lookup(t, p)
			if !ok || st.Err != nil {
				continue
			}
			o := st.Offset
			switch to {
			case "latest":
				o = e.Offset
			case "offset":
				o = offset
			case "time":
				o = e.Offset
				if a, ok := at.Lookup(t, p); ok && a.Err == nil && a.Offset >= 0 {
					o = a.Offset
				}
			}
			os.Add(kadm.Offset{Topic: t, Partition: p, At: min(max(o, st.Offset), e.Offset), LeaderEpoch: -1})
		}
	}
	resps, err := s.adm.CommitOffsets(ctx, group, os)
	if err != nil {
		return 0, err
	}
	if err := resps.Error(); err != nil {
		return 0, err
	}
	n := 0
	resps.Each(func(kadm.OffsetResponse) { n++ })
	return n, nil
}

// parseTime reads the forms' times: 2006-01-02T15:04[:05] (a datetime-local field, taken as UTC)
// or RFC 3339.
func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if ts, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return ts, nil
		}
	}
	return time.Time{}, badRequest("time: want 2006-01-02T15:04 (UTC) or RFC 3339")
}
