package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The lesson's steps in kafka-ui, done against minikraft's console as a browser would do them
// (a cookie jar, the page's CSRF token, form posts): the compose file's `ui:` service serves it
// on http://127.0.0.1:8080. The browser itself is tested in console/browser_test.go; here the
// point is the lesson's container wiring: the console reaches the brokers by their compose names
// and shows what the seed's Python snippets did.

// consoleClient is a browser-like HTTP client of the console at base: it keeps the console's
// cookie and does not follow redirects, so a form's 303 can be checked.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, base: base, hc: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// get returns the status and body of the page at path.
func (c *consoleClient) get(ctx context.Context, path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// post sends form to path with the CSRF token of the form's page (formPage), as the page's own
// form would, and returns the status, the Location header and the body.
func (c *consoleClient) post(ctx context.Context, formPage, path string, form url.Values) (int, string, string) {
	c.t.Helper()
	code, page := c.get(ctx, formPage)
	m := csrfMeta.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		c.t.Fatalf("GET %s: status %d, csrf token found: %v", formPage, code, m != nil)
	}
	form.Set("csrf", m[1])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// consoleCreateLessonTopic fills the console's "Add a topic" form with the lesson's topic: 3
// partitions, replication factor rf, min in-sync replicas minISR, cleanup policy delete, the
// one-day retention preset. The console answers a created topic with a redirect to its page.
func consoleCreateLessonTopic(t *testing.T, ctx context.Context, c *consoleClient, rf, minISR string) {
	t.Helper()
	form := url.Values{
		"name":                {"messages"},
		"partitions":          {"3"},
		"replication_factor":  {rf},
		"min_insync_replicas": {minISR},
		"cleanup_policy":      {"delete"},
		"retention_ms":        {"86400000"},
	}
	code, loc, body := c.post(ctx, "/create-topic", "/create-topic", form)
	if code != http.StatusSeeOther || loc != "/topics/messages" {
		t.Fatalf("console create topic: status %d, Location %q, want 303 to /topics/messages; page:\n%s", code, loc, body)
	}
}

// consoleShowsLesson waits until the console shows what the seed's snippets did: the topic with
// 3 partitions and one message, the message (key and value) on its messages page, and the
// consumer's group on /groups.
func consoleShowsLesson(t *testing.T, ctx context.Context, c *consoleClient, key, value, group string) {
	t.Helper()
	checks := []struct {
		path, what string
		want       []string
	}{
		{"/topics/messages", "the topic with 3 partitions and 1 message",
			[]string{`<dd id="partition-count">3</dd>`, `<dd id="message-count">1</dd>`}},
		{"/topics/messages/messages", "the seed's message", []string{key, value}},
		{"/topics", "the topic in the list", []string{`data-topic="messages"`}},
		{"/groups", "the seed consumer's group", []string{`data-group="` + group + `"`}},
	}
	for _, ch := range checks {
		var last string
		for {
			code, body := c.get(ctx, ch.path)
			missing := ""
			for _, w := range ch.want {
				if !strings.Contains(body, w) {
					missing = w
					break
				}
			}
			if code == http.StatusOK && missing == "" {
				break
			}
			last = body
			select {
			case <-ctx.Done():
				t.Fatalf("console %s never showed %s (status %d, missing %q); last page:\n%s", ch.path, ch.what, code, missing, last)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}
