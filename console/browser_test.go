package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// chromium finds Debian's headless-capable browser, or skips the test saying what is missing.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIPPED: no chromium in PATH (apt-get install chromium; ./test.sh installs it): the console's browser test did not run")
	return ""
}

// browser is one headless Chromium tab on a console, with the test's helpers.
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	dialogs atomic.Int32
}

// newBrowser starts Chromium for the console at base. Screenshots go to $CONSOLE_SCREENSHOTS
// when set (README's images: docs/console/), else to the test's temporary directory.
func newBrowser(t *testing.T, base string) *browser {
	exe := chromium(t)
	b := &browser{t: t, base: base, shots: os.Getenv("CONSOLE_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = t.TempDir()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelT)
	b.ctx = ctx
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.dialogs.Add(1)
			t.Logf("a dialog opened: %q", d.Message)
			// The listener may not run a command itself; close the dialog so the page goes on.
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { t.Logf("screenshots in %s", b.shots) })
	return b
}

// shot saves the whole page as NAME.png.
func (b *browser) shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644)
	})
}

func (b *browser) text(id string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("#%s: %v", id, err)
	}
	return v
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// open navigates to the console's path and waits for the element with id.
func (b *browser) open(path, id string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Navigate(b.base+path)(ctx, tg); err != nil {
			return err
		}
		// Wait for the loaded document first: a node found in one still loading can be
		// replaced under the next action ("Could not find node with given id").
		if _, err := chromedp.Poll[chromedp.Void](`document.readyState === "complete"`)(ctx, tg); err != nil {
			return err
		}
		_, err := chromedp.WaitVisible(chromedp.ID(id))(ctx, tg)
		return err
	})
}

// TestConsoleBrowser drives the lesson's flow in headless Chromium on three nodes: "Add a topic"
// with the lesson's settings (retention from the "1 day" preset button, the page's script), a
// keyed message through "Produce a message", the topic page with 3 partitions and 1 message,
// the message read back, the lesson's group consumer (franz-go) seen at lag 0; then a record
// whose value is markup, which must neither run (no dialog opens) nor create elements, also when
// the live tail (the page's script) adds it; a form on another site posting to the console,
// refused; a config edited, the group's offsets reset, a topic deleted. Each page is saved as a
// PNG (README's screenshots).
func TestConsoleBrowser(t *testing.T) {
	chromium(t)
	c := minikraft.NewCluster(t, 3)
	srv, _ := startConsole(t, c)
	b := newBrowser(t, srv.URL)
	ctx := b.ctx

	b.do(
		b.open("/topics", "add-topic"),
		chromedp.Click(chromedp.ID("add-topic")),
		chromedp.WaitVisible(chromedp.ID("create-topic")),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "messages"),
		chromedp.SetValue(chromedp.CSS(`input[name="partitions"]`), "3"),
		chromedp.SendKeys(chromedp.CSS(`input[name="replication_factor"]`), "3"),
		chromedp.SendKeys(chromedp.CSS(`input[name="min_insync_replicas"]`), "2"),
		chromedp.SetValue(chromedp.CSS(`select[name="cleanup_policy"]`), "delete"),
		chromedp.Click(chromedp.CSS(`button[data-retention="86400000"]`)),
	)
	if retention, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("retention_ms"))); err != nil || retention != "86400000" {
		t.Errorf("the 1 day preset set retention to %q (%v)", retention, err)
	}
	b.do(
		b.shot("create-topic"),
		chromedp.Submit(chromedp.ID("create-topic")),
		chromedp.WaitVisible(chromedp.ID("topic-name")),
		chromedp.Click(chromedp.ID("produce")),
		chromedp.WaitVisible(chromedp.ID("produce-form")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="key"]`), "python-message"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="value"]`), "my message from python"),
		b.shot("produce"),
		chromedp.Submit(chromedp.ID("produce-form")),
		chromedp.WaitVisible(chromedp.ID("produced")),
	)
	if produced := b.text("produced"); !strings.Contains(produced, "Produced to partition") {
		t.Errorf("produce said %q", produced)
	}
	b.do(b.open("/topics/messages", "partitions"), b.shot("topic"))
	if p, m, rf := b.text("partition-count"), b.text("message-count"), b.text("replication-factor"); p != "3" || m != "1" || rf != "3" {
		t.Errorf("topic page: %s partitions, %s messages, rf %s; want 3, 1, 3", p, m, rf)
	}
	b.do(b.open("/topics", "topics"), b.shot("topics"), b.open("/topics/messages/messages", "messages"), b.shot("messages"))
	if body := b.text("messages"); !strings.Contains(body, "python-message") || !strings.Contains(body, "my message from python") {
		t.Errorf("messages page:\n%s", body)
	}
	b.do(b.open("/", "brokers"), b.shot("overview"))

	// The lesson's group consumer reads the message and commits: the group is at lag 0.
	gctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gc, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumerGroup("lesson-group"), kgo.ConsumeTopics("messages"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	for got := 0; got < 1; got += gc.PollFetches(gctx).NumRecords() {
		if gctx.Err() != nil {
			t.Fatal("the group consumer read nothing")
		}
	}
	if err := gc.CommitUncommittedOffsets(gctx); err != nil {
		t.Fatal(err)
	}
	b.do(b.open("/groups", "groups"), b.shot("groups"), b.open("/groups/lesson-group", "total-lag"), b.shot("group"))
	if lag, state := b.text("total-lag"), b.text("group-state"); lag != "0" || state != "Stable" {
		t.Errorf("group page: lag %q, state %q; want 0, Stable", lag, state)
	}

	// A hostile record: it must stay text, on the page and in the live tail.
	evil := `<img src=x onerror="alert('img')"><script>alert('script')</script>`
	b.do(
		b.open("/topics/messages/messages", "tail"),
		chromedp.Click(chromedp.ID("tail")),
		chromedp.Poll[chromedp.Void](`document.getElementById("tail-status").textContent.startsWith("tailing:")`),
	)
	pcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("messages"))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(gctx, kgo.StringRecord(evil)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b.do(
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#messages tr.new").length > 0`),
		chromedp.Sleep(300*time.Millisecond), // give an onerror handler, were there one, its turn
		b.shot("tail"),
	)
	b.inert(evil, "live tail")
	b.do(
		b.open("/topics/messages/messages?seek=latest&limit=10", "messages"),
		chromedp.Sleep(300*time.Millisecond),
	)
	b.inert(evil, "messages page")

	// A form on another site (another origin: localhost, not 127.0.0.1) posting to the console
	// as soon as it loads: the console refuses it and creates nothing.
	evilSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/create-topic"><input name="name" value="csrf-topic"><input name="partitions" value="1"><input name="csrf" value="guess"></form><script>document.getElementById("f").submit()</script>`, srv.URL)
	}))
	defer evilSite.Close()
	b.do(
		chromedp.Navigate(strings.Replace(evilSite.URL, "127.0.0.1", "localhost", 1)),
		chromedp.Poll[chromedp.Void](`location.href.includes("/create-topic")`),
		chromedp.Sleep(200*time.Millisecond),
	)
	refused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refused, "cross-origin") && !strings.Contains(refused, "Forbidden") && !strings.Contains(refused, "CSRF") {
		t.Errorf("the cross-site form's answer: %q", refused)
	}
	t.Logf("the cross-site form's answer: %q", refused)
	b.do(b.open("/topics", "topics"))
	if list := b.text("topics"); strings.Contains(list, "csrf-topic") {
		t.Errorf("the cross-site form created a topic")
	}

	// Edit a config in its row, then reset the group (its consumer gone) and delete a topic.
	b.do(
		b.open("/topics/messages", "configs"),
		chromedp.SetValue(chromedp.CSS(`tr[data-config="retention.ms"] input[name="value"]`), "3600000"),
		chromedp.Click(chromedp.CSS(`tr[data-config="retention.ms"] button[value="set"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
		chromedp.ScrollIntoView(chromedp.CSS(`tr[data-config="retention.ms"]`)),
		b.shot("topic-config"),
	)
	if done, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`tr[data-config="retention.ms"] input[name="value"]`))); b.text("done") != "Set retention.ms." || done != "3600000" {
		t.Errorf("after editing retention.ms: %q, value %q", b.text("done"), done)
	}
	gc.Close()
	b.do(
		b.open("/groups/lesson-group", "reset-offsets"),
		chromedp.SetValue(chromedp.CSS(`#reset-offsets select[name="to"]`), "earliest"),
		b.shot("group-reset"),
		chromedp.Submit(chromedp.ID("reset-offsets")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if lag := b.text("total-lag"); lag != "2" {
		t.Errorf("after reset to earliest the group's lag is %q, want 2", lag)
	}
	b.do(
		b.open("/create-topic", "create-topic"),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "scratch"),
		chromedp.Submit(chromedp.ID("create-topic")),
		chromedp.WaitVisible(chromedp.ID("delete-topic")),
		chromedp.SendKeys(chromedp.CSS(`#delete-topic input[name="confirm"]`), "scratch"),
		chromedp.ScrollIntoView(chromedp.ID("delete-topic")),
		b.shot("delete-topic"),
		chromedp.Submit(chromedp.ID("delete-topic")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done, list := b.text("done"), b.text("topics"); done != "Deleted topic scratch." || strings.Contains(list, "scratch") {
		t.Errorf("after delete: %q; list:\n%s", done, list)
	}
}

// inert checks the page holds the hostile record as text: no element it would make, no dialog.
func (b *browser) inert(evil, where string) {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#messages script, #messages img").length`))
	if err != nil {
		b.t.Fatal(err)
	}
	if n != 0 || b.dialogs.Load() != 0 {
		b.t.Errorf("%s: the hostile record made %d script or img elements and %d dialogs", where, n, b.dialogs.Load())
	}
	if shown := b.text("messages"); !strings.Contains(shown, evil) {
		b.t.Errorf("%s: the hostile record is not shown as its text:\n%s", where, shown)
	}
}
