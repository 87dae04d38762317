package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/console"
)

// lessonTopic is the lesson's "Add a topic" form: 3 partitions, replication factor 3, min
// in-sync replicas 2, cleanup policy delete, 86400000 ms retention.
var lessonTopic = url.Values{
	"name":                {"messages"},
	"partitions":          {"3"},
	"replication_factor":  {"3"},
	"min_insync_replicas": {"2"},
	"cleanup_policy":      {"delete"},
	"retention_ms":        {"86400000"},
}

// startConsole serves a console of c over httptest; the client does not follow redirects, so
// tests see the 303 after a form.
func startConsole(t *testing.T, c *minikraft.Cluster) (*httptest.Server, *http.Client) {
	return startConsoleWith(t, console.Config{Brokers: c.Addrs(), Name: "kraft"})
}

// startConsoleWith serves a console made with cfg; its client keeps cookies, as a browser does,
// so post can send the CSRF token of the client's cookie.
func startConsoleWith(t *testing.T, cfg console.Config) (*httptest.Server, *http.Client) {
	t.Helper()
	s, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return srv, hc
}

func get(t *testing.T, hc *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// csrfToken is the token the console gives hc's cookie, from a page's <meta name="csrf-token">
// (a page that asks the cluster nothing: the 404 page).
func csrfToken(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, hc, pu.Scheme+"://"+pu.Host+"/no-such-page")
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf-token in the page:\n%s", body)
	}
	return m[1]
}

// post sends a form as the console's own page would: with the CSRF token of hc's cookie, unless
// the form has a csrf field already.
func post(t *testing.T, hc *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	if _, ok := form["csrf"]; !ok {
		f := url.Values{"csrf": {csrfToken(t, hc, u)}}
		for k, v := range form {
			f[k] = v
		}
		form = f
	}
	resp, err := hc.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// idText is the text of the element with the given id (no nested tags).
func idText(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestConsoleLessonFlow is the lesson's kafka-ui steps through the console's forms on three
// nodes: create the topic with its settings, produce a keyed message, see 3 partitions and 1
// message on the topic page and in the list, read the message back, and see a consumer group
// that read it with lag 0.
func TestConsoleLessonFlow(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	srv, hc := startConsole(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	resp, body := post(t, hc, srv.URL+"/create-topic", lessonTopic)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/topics/messages" {
		t.Fatalf("create: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// What the form made, as any admin client sees it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	rcs, err := adm.DescribeTopicConfigs(ctx, "messages")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("messages", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"min.insync.replicas": "2", "cleanup.policy": "delete", "retention.ms": "86400000"}
	for _, cfg := range rc.Configs {
		if w, ok := want[cfg.Key]; ok {
			if cfg.MaybeValue() != w || cfg.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
				t.Errorf("%s = %q (%s), want %q set on the topic", cfg.Key, cfg.MaybeValue(), cfg.Source, w)
			}
			delete(want, cfg.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("configs missing: %v", want)
	}

	resp, body = post(t, hc, srv.URL+"/topics/messages/produce", url.Values{"key": {"python-message"}, "value": {"my message from python"}, "headers": {"source: console"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="produced"`) {
		t.Fatalf("produce: %d\n%s", resp.StatusCode, body)
	}

	code, body := get(t, hc, srv.URL+"/topics/messages")
	if code != 200 || idText(body, "partition-count") != "3" || idText(body, "message-count") != "1" || idText(body, "replication-factor") != "3" {
		t.Fatalf("topic page: %d, partitions %q, messages %q, rf %q\n%s", code, idText(body, "partition-count"), idText(body, "message-count"), idText(body, "replication-factor"), body)
	}
	if !strings.Contains(body, `data-config="retention.ms"`) || !regexp.MustCompile(`(?s)data-config="retention.ms">.*?86400000`).MatchString(body) {
		t.Errorf("topic page does not show retention.ms 86400000")
	}

	code, body = get(t, hc, srv.URL+"/topics")
	row := regexp.MustCompile(`(?s)data-topic="messages">.*?</tr>`).FindString(body)
	if code != 200 || !strings.Contains(row, `class="num partitions">3<`) || !strings.Contains(row, `class="num messages">1<`) {
		t.Fatalf("topics list: %d, row %q", code, row)
	}

	code, body = get(t, hc, srv.URL+"/topics/messages/messages")
	if code != 200 || !strings.Contains(body, "python-message") || !strings.Contains(body, "my message from python") || !strings.Contains(body, "console") {
		t.Fatalf("messages page: %d\n%s", code, body)
	}

	// The lesson's group consumer reads it and commits; the group shows lag 0.
	gc, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumerGroup("lesson-group"), kgo.ConsumeTopics("messages"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	for got := 0; got < 1; {
		fs := gc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal("no record for the group consumer:", err)
		}
		got += fs.NumRecords()
	}
	if err := gc.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	code, body = get(t, hc, srv.URL+"/groups")
	grow := regexp.MustCompile(`(?s)data-group="lesson-group">.*?</tr>`).FindString(body)
	if code != 200 || !strings.Contains(grow, `class="num lag">0<`) {
		t.Fatalf("groups: %d, row %q\n%s", code, grow, body)
	}
	code, body = get(t, hc, srv.URL+"/groups/lesson-group")
	if code != 200 || idText(body, "total-lag") != "0" || idText(body, "group-state") != "Stable" {
		t.Fatalf("group page: %d, lag %q, state %q\n%s", code, idText(body, "total-lag"), idText(body, "group-state"), body)
	}

	code, body = get(t, hc, srv.URL+"/")
	if code != 200 || idText(body, "broker-count") != "3" || idText(body, "quorum-leader") == "" {
		t.Fatalf("overview: %d, brokers %q, quorum leader %q\n%s", code, idText(body, "broker-count"), idText(body, "quorum-leader"), body)
	}
}
