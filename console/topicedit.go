package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The topic page's changes: set or reset one config, add partitions, delete the topic. Each is
// a POST that guard has checked (token, read-only); what the cluster refuses comes back on the
// topic page as it is now, with Kafka's error above it and status 400.

// refused re-renders the topic page with err above it. A topic that is gone answers its 404.
func (s *Server) refused(r *http.Request, err error) (*view, error) {
	v, terr := s.topic(r)
	if terr != nil {
		return nil, terr
	}
	v.Error, v.Status = errorText(err), http.StatusBadRequest
	return v, nil
}

// alterConfig sets (op=set) or removes (op=delete: back to the broker's default) one topic
// config with IncrementalAlterConfigs.
func (s *Server) alterConfig(r *http.Request) (*view, error) {
	name := r.PathValue("name")
	key := strings.TrimSpace(r.PostFormValue("key"))
	value := strings.TrimSpace(r.PostFormValue("value"))
	op := orDefault(r.PostFormValue("op"), "set")
	if key == "" {
		return s.refused(r, badRequest("a config needs a name"))
	}
	ac := kadm.AlterConfig{Name: key}
	switch op {
	case "set":
		ac.Op, ac.Value = kadm.SetConfig, &value
	case "delete":
		ac.Op = kadm.DeleteConfig
	default:
		return s.refused(r, badRequest("op: want set or delete"))
	}
	resps, err := s.adm.AlterTopicConfigs(r.Context(), []kadm.AlterConfig{ac}, name)
	if err == nil {
		var resp kadm.AlterConfigsResponse
		if resp, err = resps.On(name, nil); err == nil && resp.Err != nil {
			err = resp.Err
			if resp.ErrMessage != "" && !strings.Contains(errorText(err), resp.ErrMessage) {
				err = badRequest("%s (%s)", errorText(err), resp.ErrMessage)
			}
		}
	}
	if err != nil {
		return s.refused(r, err)
	}
	return &view{Redirect: "/topics/" + url.PathEscape(name) + "?done=" + op + "&key=" + url.QueryEscape(key) + "#configs"}, nil
}

// addPartitions raises the topic's partition count to the form's total (CreatePartitions).
func (s *Server) addPartitions(r *http.Request) (*view, error) {
	name := r.PathValue("name")
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("count")))
	if err != nil || n < 1 || n > 1<<20 {
		return s.refused(r, badRequest("partitions: want the new total, a whole number above the current count"))
	}
	resps, err := s.adm.UpdatePartitions(r.Context(), n, name)
	if err == nil {
		var resp kadm.CreatePartitionsResponse
		if resp, err = resps.On(name, nil); err == nil && resp.Err != nil {
			err = resp.Err
			if resp.ErrMessage != "" {
				err = badRequest("%s (%s)", errorText(err), resp.ErrMessage)
			}
		}
	}
	if err != nil {
		return s.refused(r, err)
	}
	return &view{Redirect: "/topics/" + url.PathEscape(name) + "?done=partitions&count=" + strconv.Itoa(n)}, nil
}

// deleteTopic deletes the topic when the form's confirmation repeats its name.
func (s *Server) deleteTopic(r *http.Request) (*view, error) {
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != name {
		return s.refused(r, badRequest("the topic was not deleted: type its name, %s, to confirm", name))
	}
	resp, err := s.adm.DeleteTopic(r.Context(), name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return s.refused(r, err)
	}
	return &view{Redirect: "/topics?deleted=" + url.QueryEscape(name)}, nil
}

// doneText is what the topic page says after a change redirected to it (the query names the
// change; the text is made here, so an address cannot make the page say anything else).
func doneText(q url.Values) string {
	key := q.Get("key")
	if strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
		return ""
	}
	if _, err := strconv.Atoi(q.Get("count")); err != nil && q.Get("done") == "partitions" {
		return ""
	}
	switch q.Get("done") {
	case "set":
		return "Set " + q.Get("key") + "."
	case "delete":
		return "Reset " + q.Get("key") + " to its default."
	case "partitions":
		return "The topic has " + q.Get("count") + " partitions now."
	}
	return ""
}
