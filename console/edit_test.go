package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
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

// topicConfig is one config of a topic and its source, as any admin client sees it.
func topicConfig(t *testing.T, adm *kadm.Client, topic, key string) (string, string) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), c.Source.String()
		}
	}
	return "", ""
}

func newAdmin(t *testing.T, c *minikraft.Cluster) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// TestConsoleTopicChanges: the topic page's forms set and reset a config (IncrementalAlterConfigs),
// add partitions, and delete the topic only when the confirmation names it; what the cluster
// refuses comes back on the page with Kafka's error name and changes nothing.
func TestConsoleTopicChanges(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	adm := newAdmin(t, c)
	if resp, body := post(t, hc, srv.URL+"/create-topic", url.Values{"name": {"t"}, "partitions": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	_, body := get(t, hc, srv.URL+"/topics/t")
	for _, id := range []string{`id="add-partitions"`, `id="delete-topic"`, `id="set-config"`, `class="config-form"`} {
		if !strings.Contains(body, id) {
			t.Errorf("topic page lacks %s", id)
		}
	}

	resp, body := post(t, hc, srv.URL+"/topics/t/configs", url.Values{"key": {"retention.ms"}, "value": {"3600000"}, "op": {"set"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set retention.ms: %d\n%s", resp.StatusCode, body)
	}
	if v, src := topicConfig(t, adm, "t", "retention.ms"); v != "3600000" || src != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("after set: retention.ms %q (%s)", v, src)
	}
	if code, body := get(t, hc, srv.URL+resp.Header.Get("Location")); code != 200 || idText(body, "done") != "Set retention.ms." {
		t.Errorf("after set the page says %q", idText(body, "done"))
	}
	if resp, body := post(t, hc, srv.URL+"/topics/t/configs", url.Values{"key": {"retention.ms"}, "op": {"delete"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset retention.ms: %d\n%s", resp.StatusCode, body)
	}
	if _, src := topicConfig(t, adm, "t", "retention.ms"); src == "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("after reset retention.ms is still set on the topic")
	}
	for _, f := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"key": {"cleanup.policy"}, "value": {"sometimes"}}, "INVALID_CONFIG"},
		{url.Values{"key": {"no.such.config"}, "value": {"1"}}, "INVALID_CONFIG"},
		{url.Values{"key": {""}, "value": {"1"}}, "a config needs a name"},
		{url.Values{"key": {"retention.ms"}, "op": {"sideways"}}, "op: want set or delete"},
	} {
		resp, body := post(t, hc, srv.URL+"/topics/t/configs", f.form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(idText(body, "page-error"), f.want) {
			t.Errorf("config %v: %d, error %q, want 400 with %q", f.form, resp.StatusCode, idText(body, "page-error"), f.want)
		}
	}

	if resp, body := post(t, hc, srv.URL+"/topics/t/partitions", url.Values{"count": {"3"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add partitions: %d\n%s", resp.StatusCode, body)
	}
	if _, body := get(t, hc, srv.URL+"/topics/t"); idText(body, "partition-count") != "3" {
		t.Errorf("after adding partitions: %q", idText(body, "partition-count"))
	}
	for _, n := range []string{"2", "x"} {
		resp, body := post(t, hc, srv.URL+"/topics/t/partitions", url.Values{"count": {n}})
		if resp.StatusCode != http.StatusBadRequest || idText(body, "partition-count") != "3" {
			t.Errorf("partitions %s: %d, count %q, error %q", n, resp.StatusCode, idText(body, "partition-count"), idText(body, "page-error"))
		}
	}

	resp, body = post(t, hc, srv.URL+"/topics/t/delete", url.Values{"confirm": {"not-t"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "type its name") {
		t.Errorf("delete with a wrong confirmation: %d\n%s", resp.StatusCode, body)
	}
	// The list, seen just before the delete, must not show the topic just after it (franz-go's
	// metadata cache would for 5 s).
	if _, body := get(t, hc, srv.URL+"/topics"); !strings.Contains(body, `data-topic="t"`) {
		t.Fatalf("the topic list lacks t before the delete:\n%s", body)
	}
	resp, body = post(t, hc, srv.URL+"/topics/t/delete", url.Values{"confirm": {"t"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", resp.StatusCode, body)
	}
	if code, body := get(t, hc, srv.URL+resp.Header.Get("Location")); code != 200 || strings.Contains(body, `data-topic="t"`) {
		t.Errorf("the topic list right after the delete: %d, t still listed", code)
	}
	tds, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has("t") {
		t.Errorf("topic t still listed after delete")
	}
}

// TestConsoleGroupChanges: a group's offsets are reset to earliest, an offset, a time and latest
// once it is empty, refused while it has a member, and the group is deleted.
func TestConsoleGroupChanges(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	adm := newAdmin(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "g"); err != nil {
		t.Fatal(err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("g"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	for i := range 6 {
		if err := pcl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consume := func() *kgo.Client {
		gc, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumerGroup("grp"), kgo.ConsumeTopics("g"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 6; {
			fs := gc.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatal("group consumer read nothing")
			}
			got += fs.NumRecords()
		}
		if err := gc.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		return gc
	}
	gc := consume()
	resp, body := post(t, hc, srv.URL+"/groups/grp", url.Values{"action": {"reset"}, "to": {"earliest"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "NON_EMPTY_GROUP") {
		t.Errorf("reset with a member: %d, error %q", resp.StatusCode, idText(body, "page-error"))
	}
	gc.Close() // leaves the group
	lag := func() string {
		_, body := get(t, hc, srv.URL+"/groups/grp")
		return idText(body, "total-lag")
	}
	for _, f := range []struct {
		form url.Values
		lag  string
	}{
		{url.Values{"to": {"earliest"}}, "6"},
		{url.Values{"to": {"offset"}, "offset": {"2"}, "topic": {"g"}}, "2"},
		{url.Values{"to": {"latest"}}, "0"},
		{url.Values{"to": {"time"}, "time": {"2000-01-01T00:00"}}, "6"},
		{url.Values{"to": {"time"}, "time": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, "0"},
	} {
		f.form.Set("action", "reset")
		resp, body := post(t, hc, srv.URL+"/groups/grp", f.form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset %v: %d, error %q", f.form, resp.StatusCode, idText(body, "page-error"))
		}
		if got := lag(); got != f.lag {
			t.Errorf("reset %v: lag %s, want %s", f.form, got, f.lag)
		}
	}
	for _, f := range []url.Values{{"to": {"sideways"}}, {"to": {"offset"}, "offset": {"x"}}, {"to": {"time"}, "time": {"soon"}}, {"action": {"explode"}}} {
		if f.Get("action") == "" {
			f.Set("action", "reset")
		}
		if resp, body := post(t, hc, srv.URL+"/groups/grp", f); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d, error %q", f, resp.StatusCode, idText(body, "page-error"))
		}
	}
	if resp, _ := post(t, hc, srv.URL+"/groups/grp", url.Values{"action": {"delete"}, "confirm": {"nope"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("delete with a wrong confirmation: %d", resp.StatusCode)
	}
	if resp, body := post(t, hc, srv.URL+"/groups/grp", url.Values{"action": {"delete"}, "confirm": {"grp"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d, error %q", resp.StatusCode, idText(body, "page-error"))
	}
	if code, _ := get(t, hc, srv.URL+"/groups/grp"); code != http.StatusNotFound {
		t.Errorf("deleted group's page: %d, want 404", code)
	}
}

// TestConsoleTokenAndReadOnly: a same-origin POST without the token of its cookie is refused, and
// a read-only console shows no form that changes anything and refuses every POST.
func TestConsoleTokenAndReadOnly(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	_, other := startConsole(t, c)
	for name, tok := range map[string]string{"no token": "", "another cookie's token": csrfToken(t, other, srv.URL), "garbage": "abc"} {
		resp, body := post(t, hc, srv.URL+"/create-topic", url.Values{"name": {"x"}, "csrf": {tok}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s: %d\n%s", name, resp.StatusCode, body)
		}
	}
	// No cookie at all (a fresh client), even with a token lifted from a page.
	tok := csrfToken(t, hc, srv.URL)
	resp, err := http.PostForm(srv.URL+"/create-topic", url.Values{"name": {"x"}, "csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("token without its cookie: %d", resp.StatusCode)
	}
	// With the right cookie and token, but from another origin: Origin alone (an older browser
	// sends no Sec-Fetch-Site), or Sec-Fetch-Site alone.
	for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}} {
		req, _ := http.NewRequest("POST", srv.URL+"/create-topic", strings.NewReader(url.Values{"name": {"x"}, "csrf": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("token and cookie but %v: %d, want 403", h, resp.StatusCode)
		}
	}
	if _, body := get(t, hc, srv.URL+"/topics"); strings.Contains(body, `data-topic="x"`) {
		t.Fatal("a refused form created topic x")
	}

	ro, rhc := startConsoleWith(t, console.Config{Brokers: c.Addrs(), ReadOnly: true})
	if resp, _ := post(t, hc, srv.URL+"/create-topic", url.Values{"name": {"y"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create y: %d", resp.StatusCode)
	}
	for _, p := range []string{"/topics", "/topics/y", "/topics/y/messages"} {
		code, body := get(t, rhc, ro.URL+p)
		if code != 200 || strings.Contains(body, `method="post"`) || strings.Contains(body, "/produce") || strings.Contains(body, "/create-topic") || idText(body, "read-only") != "read-only" {
			t.Errorf("read-only %s: %d, has a form or a link to one\n%s", p, code, body)
		}
	}
	for _, p := range []string{"/create-topic", "/topics/y/produce"} {
		if code, _ := get(t, rhc, ro.URL+p); code != http.StatusForbidden {
			t.Errorf("read-only GET %s: %d, want 403", p, code)
		}
	}
	for _, p := range []string{"/create-topic", "/topics/y/delete", "/topics/y/configs", "/topics/y/produce", "/groups/g"} {
		resp, body := post(t, rhc, ro.URL+p, url.Values{"name": {"z"}, "confirm": {"y"}, "key": {"retention.ms"}, "value": {"1"}, "action": {"delete"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "read-only") {
			t.Errorf("read-only POST %s: %d", p, resp.StatusCode)
		}
	}
	if tds, err := newAdmin(t, c).ListTopics(context.Background()); err != nil || !tds.Has("y") || tds.Has("z") {
		t.Errorf("the read-only console changed the topics: %v %v", tds.Names(), err)
	}
}

// TestConsoleTailAndWhole: the live tail answers the end offsets first, then what arrived since,
// with markup as plain JSON text; a value longer than the page shows is cut with a link to the
// record alone, which shows it whole.
func TestConsoleTailAndWhole(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	if resp, _ := post(t, hc, srv.URL+"/create-topic", url.Values{"name": {"t"}, "partitions": {"2"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("create")
	}
	big := strings.Repeat("0123456789", 1000) + "THE-END"
	if resp, body := post(t, hc, srv.URL+"/topics/t/produce", url.Values{"value": {big}, "partition": {"1"}}); resp.StatusCode != 200 {
		t.Fatalf("produce: %d\n%s", resp.StatusCode, body)
	}
	tail := func(next string) (a struct {
		Next    string
		Records []struct {
			Partition int32
			Offset    int64
			Value     struct{ Text string }
		}
	}) {
		t.Helper()
		code, body := get(t, hc, srv.URL+"/topics/t/tail?partition=all&next="+url.QueryEscape(next))
		if code != 200 {
			t.Fatalf("tail: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	first := tail("")
	if first.Next != "0:0,1:1" || len(first.Records) != 0 {
		t.Fatalf("first tail: %+v", first)
	}
	evil := `<script>alert(1)</script>`
	if resp, _ := post(t, hc, srv.URL+"/topics/t/produce", url.Values{"value": {evil}, "partition": {"0"}}); resp.StatusCode != 200 {
		t.Fatal("produce evil")
	}
	code, raw := get(t, hc, srv.URL+"/topics/t/tail?next=0:0,1:1")
	if code != 200 || strings.Contains(raw, "<script") {
		t.Errorf("tail JSON carries raw markup: %s", raw)
	}
	second := tail(first.Next)
	if len(second.Records) != 1 || second.Records[0].Value.Text != evil || second.Next != "0:1,1:1" {
		t.Errorf("second tail: %+v", second)
	}
	if code, _ := get(t, hc, srv.URL+"/topics/t/tail?next=zz"); code != 400 {
		t.Errorf("bad next: %d", code)
	}

	_, body := get(t, hc, srv.URL+"/topics/t/messages?partition=1")
	if strings.Contains(body, "THE-END") {
		t.Errorf("the big value is shown whole on the list")
	}
	m := regexp.MustCompile(`<a class="whole" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link to the whole value:\n%s", body[:min(len(body), 4000)])
	}
	code, body = get(t, hc, srv.URL+html.UnescapeString(m[1]))
	if code != 200 || !strings.Contains(body, big) {
		t.Errorf("the whole value's page: %d, has it: %v", code, strings.Contains(body, big))
	}
	if code, _ := get(t, hc, srv.URL+"/topics/t/messages?full=1&limit=50"); code != 400 {
		t.Errorf("full=1 with 50 records: %d, want 400", code)
	}
}

// TestConsoleMessagesSeek: the messages page starts where it is asked (an offset, a time, the
// latest) in the partition asked, and shows binary values as hex and JSON pretty-printed.
func TestConsoleMessagesSeek(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	adm := newAdmin(t, c)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "s"); err != nil {
		t.Fatal(err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("s"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	for i, v := range []string{"rec-2020", "rec-2021", `{"year":2022}`, "\x00\x01\x02binary"} {
		ts := time.Date(2020+i, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := pcl.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Timestamp: ts}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		query    string
		has, not []string
	}{
		{"partition=0&seek=offset&offset=1", []string{"rec-2021", "&#34;year&#34;: 2022", "00 01 02"}, []string{"rec-2020"}},
		{"partition=0&seek=time&time=2020-06-01T00:00", []string{"rec-2021"}, []string{"rec-2020"}},
		{"seek=time&time=2022-06-01T00:00:00Z", []string{"binary"}, []string{"rec-2021", "year"}},
		{"partition=0&seek=latest&limit=1", []string{"binary"}, []string{"rec-2021"}},
		{"partition=1", []string{"No messages here."}, []string{"rec-2020"}},
		{"partition=0&format=hex&limit=1", []string{"72 65 63 2d 32 30 32 30"}, []string{"rec-2021"}},
	}
	for _, cs := range cases {
		code, body := get(t, hc, srv.URL+"/topics/s/messages?"+cs.query)
		if code != 200 {
			t.Errorf("%s: %d", cs.query, code)
			continue
		}
		for _, h := range cs.has {
			if !strings.Contains(body, h) {
				t.Errorf("%s: lacks %q", cs.query, h)
			}
		}
		for _, n := range cs.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: has %q", cs.query, n)
			}
		}
	}
}

// TestConsoleTransactionEnd: a partition whose last offset is a transaction's commit marker is
// read to its end at once (the marker is not shown), not after the page's whole time budget.
func TestConsoleTransactionEnd(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	ctx := context.Background()
	if _, err := newAdmin(t, c).CreateTopic(ctx, 1, 1, nil, "tx"); err != nil {
		t.Fatal(err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("tx"), kgo.TransactionalID("console-txn"))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := pcl.ProduceSync(ctx, kgo.StringRecord("in-txn")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := pcl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, body := get(t, hc, srv.URL+"/topics/tx/messages")
	took := time.Since(start)
	if code != 200 || !strings.Contains(body, "in-txn") || strings.Contains(body, "budget") || strings.Count(body, `<td class="num">0</td><td class="num">`) != 1 {
		t.Errorf("messages of a transactional topic: %d\n%s", code, body)
	}
	if took > 2*time.Second {
		t.Errorf("the page took %v: it waited for offsets past the commit marker", took)
	}
	code, body = get(t, hc, srv.URL+"/topics/tx/tail?next=0:0")
	if code != 200 || strings.Count(body, `"offset":`) != 1 || !strings.Contains(body, `"next":"0:2"`) {
		t.Errorf("tail over a commit marker: %d %s", code, body)
	}
}
