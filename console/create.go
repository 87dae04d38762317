package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// createForm is the "Add a topic" form's fields, as given (so a refused form comes back filled
// in) and the errors to show next to them.
type createForm struct {
	Name              string
	Partitions        string
	ReplicationFactor string
	MinInsyncReplicas string
	CleanupPolicy     string
	RetentionMs       string
	MaxMessageBytes   string
	Other             string
	FieldErrs         map[string]string
	Err               string
}

// retentionPresets are kafka-ui's "Time to retain data" buttons, in milliseconds.
var retentionPresets = []struct{ Label, Ms string }{
	{"12 hours", "43200000"}, {"1 day", "86400000"}, {"2 days", "172800000"},
	{"7 days", "604800000"}, {"4 weeks", "2419200000"}, {"forever", "-1"},
}

type createData struct {
	Form    createForm
	Presets any
}

func (s *Server) createTopicForm(r *http.Request) (*view, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	f := createForm{Partitions: "1", ReplicationFactor: "", CleanupPolicy: "delete", RetentionMs: "604800000"}
	return &view{Template: "create", Title: "Add a topic", Data: createData{f, retentionPresets}}, nil
}

// createTopic sends CreateTopics with the form's partitions, replication factor and configs.
// Empty numeric fields are left to the broker's defaults (-1 in the request, KIP-464). What the
// broker refuses comes back in the form, next to the field it concerns when the error says.
func (s *Server) createTopic(r *http.Request) (*view, error) {
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("bad form: %v", err)
	}
	f := createForm{
		Name:              strings.TrimSpace(r.PostFormValue("name")),
		Partitions:        strings.TrimSpace(r.PostFormValue("partitions")),
		ReplicationFactor: strings.TrimSpace(r.PostFormValue("replication_factor")),
		MinInsyncReplicas: strings.TrimSpace(r.PostFormValue("min_insync_replicas")),
		CleanupPolicy:     strings.TrimSpace(r.PostFormValue("cleanup_policy")),
		RetentionMs:       strings.TrimSpace(r.PostFormValue("retention_ms")),
		MaxMessageBytes:   strings.TrimSpace(r.PostFormValue("max_message_bytes")),
		Other:             r.PostFormValue("other"),
		FieldErrs:         map[string]string{},
	}
	refuse := func() (*view, error) {
		if f.Err == "" {
			f.Err = "the topic was not created: see the fields marked below"
		}
		return &view{Template: "create", Title: "Add a topic", Status: http.StatusBadRequest, Data: createData{f, retentionPresets}}, nil
	}
	if f.Name == "" {
		f.FieldErrs["name"] = "a topic needs a name"
	}
	parts := formInt(f.Partitions, "partitions", 1, 1<<20, f.FieldErrs)
	rf := formInt(f.ReplicationFactor, "replication_factor", 1, 32767, f.FieldErrs)
	configs := map[string]*string{}
	set := func(key, v string) {
		if v != "" {
			configs[key] = &v
		}
	}
	if formInt(f.MinInsyncReplicas, "min_insync_replicas", 1, 32767, f.FieldErrs); f.FieldErrs["min_insync_replicas"] == "" {
		set("min.insync.replicas", f.MinInsyncReplicas)
	}
	if formInt(f.RetentionMs, "retention_ms", -1, 1<<62, f.FieldErrs); f.FieldErrs["retention_ms"] == "" {
		set("retention.ms", f.RetentionMs)
	}
	if formInt(f.MaxMessageBytes, "max_message_bytes", 0, 1<<31-1, f.FieldErrs); f.FieldErrs["max_message_bytes"] == "" {
		set("max.message.bytes", f.MaxMessageBytes)
	}
	set("cleanup.policy", f.CleanupPolicy)
	for i, line := range strings.Split(f.Other, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			f.FieldErrs["other"] = "line " + strconv.Itoa(i+1) + ": want key=value"
			continue
		}
		set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if len(f.FieldErrs) > 0 {
		return refuse()
	}
	resp, err := s.adm.CreateTopic(r.Context(), int32(parts), int16(rf), configs, f.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		f.Err = errorText(err)
		if resp.ErrMessage != "" && !strings.Contains(f.Err, resp.ErrMessage) {
			f.Err += " (" + resp.ErrMessage + ")"
		}
		if field := fieldOf(err, resp.ErrMessage); field != "" {
			f.FieldErrs[field] = f.Err
		}
		return refuse()
	}
	return &view{Redirect: "/topics/" + url.PathEscape(f.Name)}, nil
}

// writable is the 403 a form page answers in read-only mode (guard refuses the POSTs).
func (s *Server) writable() error {
	if s.cfg.ReadOnly {
		return httpError{http.StatusForbidden, "the console is read-only: it changes nothing"}
	}
	return nil
}

// formInt checks an optional integer field: empty is -1 (the broker's default), anything else
// must be a whole number in [lo, hi].
func formInt(v, field string, lo, hi int64, errs map[string]string) int64 {
	if v == "" {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		errs[field] = "want a whole number from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10)
		return -1
	}
	return n
}

// fieldOf says which form field a CreateTopics error is about, so the page shows it there.
func fieldOf(err error, msg string) string {
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(err, kerr.InvalidTopicException):
		return "name"
	case errors.Is(err, kerr.InvalidPartitions):
		return "partitions"
	case errors.Is(err, kerr.InvalidReplicationFactor):
		return "replication_factor"
	case errors.Is(err, kerr.InvalidConfig) || errors.Is(err, kerr.InvalidRequest):
		for key, field := range map[string]string{"min.insync.replicas": "min_insync_replicas", "retention.ms": "retention_ms", "cleanup.policy": "cleanup_policy", "max.message.bytes": "max_message_bytes"} {
			if strings.Contains(msg, key) {
				return field
			}
		}
		return "other"
	}
	return ""
}
