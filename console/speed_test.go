package console_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

var speedWants = map[string]string{
	"/topics":                     "page 1 of 10 (1000 topics)",
	"/topics?page=10":             `data-topic="topic-0999"`,
	"/topics/topic-0500/messages": "n&#34;: 0",
	"/topics/topic-0500/messages?seek=latest&limit=10": "n&#34;: 49",
	"/topics/topic-0500/tail?next=0:0":                 `"offset":49`,
	"/groups/speed":                                    `<dd id="total-lag">0<`,
}

// TestConsoleSpeed measures every page against one node holding 1,000 topics (issue 16: each
// page under 100 ms). It reports the median and the worst of 7 requests per page and checks that
// each page shows its data. Times are reported, not enforced, since tests must pass on a loaded
// machine: set CONSOLE_SPEED_BUDGET=1 (a quiet machine) to fail when a median passes 100 ms, times
// CONSOLE_SPEED_SLACK when set. Skipped with -short: making the topics takes a few seconds.
func TestConsoleSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED with -short: 1,000 topics")
	}
	budget := 100 * time.Millisecond
	if f, err := strconv.ParseFloat(os.Getenv("CONSOLE_SPEED_SLACK"), 64); err == nil && f > 0 {
		budget = time.Duration(float64(budget) * f)
	}
	c := minikraft.NewCluster(t, 1)
	srv, hc := startConsole(t, c)
	adm := newAdmin(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topics = 1000
	for i := 0; i < topics; i += 100 {
		var names []string
		for j := i; j < i+100; j++ {
			names = append(names, fmt.Sprintf("topic-%04d", j))
		}
		resps, err := adm.CreateTopics(ctx, 1, 1, nil, names...)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("topic-0500"),
		kgo.ConsumerGroup("speed"), kgo.ConsumeTopics("topic-0500"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(`{"n":` + strconv.Itoa(i) + `}`)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < 50; got += cl.PollFetches(ctx).NumRecords() {
		if ctx.Err() != nil {
			t.Fatal("the group read nothing")
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	pages := []string{"/", "/topics", "/topics?page=10", "/topics?q=topic-09", "/create-topic", "/topics/topic-0500",
		"/topics/topic-0500/messages", "/topics/topic-0500/messages?seek=latest&limit=10", "/topics/topic-0500/produce",
		"/topics/topic-0500/tail?next=0:0", "/groups", "/groups/speed"}
	for _, p := range pages {
		var times []time.Duration
		for i := range 8 {
			start := time.Now()
			code, body := get(t, hc, srv.URL+p)
			if code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", p, code, body)
			}
			// The pages show what they measure: the records, the 1,000 topics, the lag.
			if want := speedWants[p]; want != "" && !strings.Contains(body, want) {
				t.Fatalf("%s lacks %q:\n%s", p, want, body)
			}
			if i > 0 { // the first warms the client's metadata
				times = append(times, time.Since(start))
			}
		}
		slices.Sort(times)
		med := times[len(times)/2]
		t.Logf("%-50s median %6.1f ms  worst %6.1f ms", p, float64(med.Microseconds())/1000, float64(times[len(times)-1].Microseconds())/1000)
		if med > budget && os.Getenv("CONSOLE_SPEED_BUDGET") == "1" {
			t.Errorf("%s: median %v, over the %v budget", p, med, budget)
		}
	}
}
