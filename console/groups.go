package console

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

type groupRow struct {
	Name     string
	State    string
	Protocol string
	Members  int
	Lag      int64
	LagKnown bool
	Err      string
}

// groups lists the consumer groups (ListGroups) with their state, members and total lag
// (kadm's Lag: DescribeGroups, OffsetFetch and the partitions' end offsets).
func (s *Server) groups(r *http.Request) (*view, error) {
	ctx := r.Context()
	listed, err := s.adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	var rows []groupRow
	if names := listed.Groups(); len(names) > 0 {
		lags, err := s.adm.Lag(ctx, names...)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			rows = append(rows, groupRowOf(name, lags[name]))
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	v := &view{Template: "groups", Title: "Consumer groups", Data: rows}
	if g := r.URL.Query().Get("deleted"); g != "" {
		v.Done = "Deleted group " + g + "."
	}
	return v, nil
}

func groupRowOf(name string, l kadm.DescribedGroupLag) groupRow {
	row := groupRow{Name: name, State: l.State, Protocol: l.Protocol, Members: len(l.Members)}
	if err := l.Error(); err != nil {
		row.Err = errorText(err)
		return row
	}
	row.Lag, row.LagKnown = totalLag(l.Lag)
	return row
}

// totalLag sums the partitions' lag; known is false when any partition's lag is unknown.
func totalLag(gl kadm.GroupLag) (total int64, known bool) {
	known = true
	for _, ps := range gl {
		for _, pl := range ps {
			if pl.Err != nil || pl.Lag < 0 {
				known = false
				continue
			}
			total += pl.Lag
		}
	}
	return total, known
}

type memberRow struct {
	ID         string
	InstanceID string
	ClientID   string
	Host       string
	Assigned   string
}

type lagRow struct {
	Topic     string
	Partition int32
	Member    string
	Commit    int64
	End       int64
	Lag       int64
	Err       string
}

type groupData struct {
	groupRow
	ProtocolType string
	Coordinator  int32
	MemberRows   []memberRow
	Lags         []lagRow
	Topics       []string // the topics of Lags, for the reset form
}

// group is one group: its members with what each was assigned, and per partition the committed
// offset, the end offset and the lag.
func (s *Server) group(r *http.Request) (*view, error) {
	name := r.PathValue("name")
	lags, err := s.adm.Lag(r.Context(), name)
	if err != nil {
		return nil, err
	}
	l, ok := lags[name]
	if !ok {
		return nil, httpError{http.StatusNotFound, kerr.GroupIDNotFound.Message + ": no group " + name}
	}
	if l.DescribeErr == nil && l.State == "Dead" {
		return nil, httpError{http.StatusNotFound, kerr.GroupIDNotFound.Message + ": no group " + name + " (Dead)"}
	}
	d := groupData{groupRow: groupRowOf(name, l), ProtocolType: l.ProtocolType, Coordinator: l.Coordinator.NodeID}
	for _, m := range l.Members {
		mr := memberRow{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mr.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok && ca != nil {
			var parts []string
			for _, t := range ca.Topics {
				parts = append(parts, t.Topic+" "+joinInt32(t.Partitions))
			}
			mr.Assigned = strings.Join(parts, "; ")
		}
		d.MemberRows = append(d.MemberRows, mr)
	}
	for _, pl := range l.Lag.Sorted() {
		row := lagRow{Topic: pl.Topic, Partition: pl.Partition, Commit: pl.Commit.At, End: pl.End.Offset, Lag: pl.Lag}
		if pl.Member != nil {
			row.Member = pl.Member.MemberID
		}
		if pl.Err != nil {
			row.Err = errorText(pl.Err)
		}
		d.Lags = append(d.Lags, row)
	}
	seen := map[string]bool{}
	for _, l := range d.Lags {
		if !seen[l.Topic] {
			seen[l.Topic] = true
			d.Topics = append(d.Topics, l.Topic)
		}
	}
	v := &view{Template: "group", Title: "Group " + name, Data: d}
	if n, err := strconv.Atoi(r.URL.Query().Get("reset")); err == nil {
		v.Done = "Committed new offsets for " + strconv.Itoa(n) + " partition(s)."
	}
	return v, nil
}

func joinInt32(xs []int32) string { return funcs["join"].(func([]int32) string)(xs) }
