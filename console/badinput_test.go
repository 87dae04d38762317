package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/minikraft/minikraft"
)

// TestConsoleBadInput: what the console refuses says why in the page, with Kafka's error name
// when the cluster refused, and with the status a browser or script can check; nothing is a 500.
func TestConsoleBadInput(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	if resp, body := post(t, hc, srv.URL+"/create-topic", url.Values{"name": {"t"}, "partitions": {"2"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create t: %d\n%s", resp.StatusCode, body)
	}
	forms := []struct {
		name string
		form url.Values
		want string
	}{
		{"exists", url.Values{"name": {"t"}, "partitions": {"1"}}, "TOPIC_ALREADY_EXISTS"},
		{"rf above brokers", url.Values{"name": {"u"}, "partitions": {"1"}, "replication_factor": {"3"}}, "INVALID_REPLICATION_FACTOR"},
		{"bad name", url.Values{"name": {"a/b"}, "partitions": {"1"}}, "INVALID_TOPIC_EXCEPTION"},
		{"min isr not a number", url.Values{"name": {"u"}, "min_insync_replicas": {"two"}}, "want a whole number"},
		{"bad cleanup policy", url.Values{"name": {"u"}, "cleanup_policy": {"sometimes"}}, "INVALID_CONFIG"},
		{"unknown config", url.Values{"name": {"u"}, "other": {"no.such.config=1"}}, "INVALID_CONFIG"},
		{"other not key=value", url.Values{"name": {"u"}, "other": {"just words"}}, "line 1: want key=value"},
		{"no name", url.Values{"partitions": {"1"}}, "a topic needs a name"},
	}
	for _, f := range forms {
		resp, body := post(t, hc, srv.URL+"/create-topic", f.form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, f.want) || !strings.Contains(body, `id="form-error"`) {
			t.Errorf("%s: %d, want 400 with %q\n%s", f.name, resp.StatusCode, f.want, body)
		}
	}
	if _, body := get(t, hc, srv.URL+"/topics"); strings.Contains(body, `data-topic="u"`) {
		t.Errorf("a refused form created topic u")
	}

	pages := []struct {
		path string
		code int
		want string
	}{
		{"/topics/nope", 404, "UNKNOWN_TOPIC_OR_PARTITION"},
		{"/topics/nope/messages", 404, "UNKNOWN_TOPIC_OR_PARTITION"},
		{"/topics/nope/produce", 404, "UNKNOWN_TOPIC_OR_PARTITION"},
		{"/topics/t/messages?limit=abc", 400, "limit: want a whole number"},
		{"/topics/t/messages?limit=100000", 400, "limit: want a whole number"},
		{"/topics/t/messages?partition=7", 400, "partition: want all or a partition from 0 to 1"},
		{"/topics/t/messages?seek=offset&offset=x", 400, "offset: want a whole number"},
		{"/topics/t/messages?seek=time&time=yesterday", 400, "time: want"},
		{"/topics/t/messages?format=xml", 400, "format: want"},
		{"/groups/none", 404, "GROUP_ID_NOT_FOUND"},
		{"/no/such/page", 404, "no such page"},
	}
	for _, p := range pages {
		code, body := get(t, hc, srv.URL+p.path)
		if code != p.code || !strings.Contains(body, p.want) {
			t.Errorf("%s: %d, want %d with %q\n%s", p.path, code, p.code, p.want, body)
		}
	}

	for _, f := range []url.Values{{"partition": {"2"}}, {"partition": {"-1"}}, {"headers": {"no colon here"}}} {
		resp, body := post(t, hc, srv.URL+"/topics/t/produce", f)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "nothing was produced") {
			t.Errorf("produce %v: %d\n%s", f, resp.StatusCode, body)
		}
	}
	if _, body := get(t, hc, srv.URL+"/topics/t"); idText(body, "message-count") != "0" {
		t.Errorf("refused produce forms wrote records: count %q", idText(body, "message-count"))
	}
}

// TestConsoleEscapesAndCSRF: a record whose key, value and header hold markup is shown as text
// (the page has no element it would create), and a form posted from another origin is refused
// before it changes anything.
func TestConsoleEscapesAndCSRF(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	if resp, body := post(t, hc, srv.URL+"/create-topic", url.Values{"name": {"x"}, "partitions": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	evil := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	resp, body := post(t, hc, srv.URL+"/topics/x/produce", url.Values{"key": {evil}, "value": {evil}, "headers": {"h: " + evil}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("produce: %d\n%s", resp.StatusCode, body)
	}
	_, body = get(t, hc, srv.URL+"/topics/x/messages")
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatalf("markup from a record reached the page unescaped:\n%s", body)
	}
	if n := strings.Count(body, "&lt;script&gt;alert(1)&lt;/script&gt;"); n != 3 {
		t.Errorf("the escaped record shows %d times, want 3 (key, value, header)\n%s", n, body)
	}

	req, _ := http.NewRequest("POST", srv.URL+"/create-topic", strings.NewReader(url.Values{"name": {"csrf"}, "partitions": {"1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	r, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", r.StatusCode)
	}
	if _, body := get(t, hc, srv.URL+"/topics"); strings.Contains(body, `data-topic="csrf"`) {
		t.Errorf("a cross-site form created a topic")
	}
	if r, err := hc.Get(srv.URL + "/"); err == nil {
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		r.Body.Close()
	}
}
