package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

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

// TestConsoleBrowser drives the lesson's flow in headless Chromium on three nodes: "Add a topic"
// with the lesson's settings (retention from the "1 day" preset button, the page's script), a
// keyed message through "Produce a message", the topic page with 3 partitions and 1 message,
// the message read back; then a record whose value is markup, which must neither run (no
// dialog opens) nor create elements. Screenshots of each page go to $CONSOLE_SCREENSHOTS when
// set (README's images: docs/console/), else to the test's temporary directory.
func TestConsoleBrowser(t *testing.T) {
	exe := chromium(t)
	c := minikraft.NewCluster(t, 3)
	srv, _ := startConsole(t, c)
	shots := os.Getenv("CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()
	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			t.Logf("a dialog opened: %q", d.Message)
			// The listener may not run a command itself; close the dialog so the page goes on.
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(80)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".jpg"), buf, 0o644)
		})
	}
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("#%s: %v", id, err)
		}
		return v
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	do(
		chromedp.Navigate(srv.URL+"/topics"),
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
	do(
		shot("create-topic"),
		chromedp.Submit(chromedp.ID("create-topic")),
		chromedp.WaitVisible(chromedp.ID("topic-name")),
		chromedp.Click(chromedp.ID("produce")),
		chromedp.WaitVisible(chromedp.ID("produce-form")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="key"]`), "python-message"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="value"]`), "my message from python"),
		shot("produce"),
		chromedp.Submit(chromedp.ID("produce-form")),
		chromedp.WaitVisible(chromedp.ID("produced")),
	)
	if produced := text("produced"); !strings.Contains(produced, "Produced to partition") {
		t.Errorf("produce said %q", produced)
	}
	do(chromedp.Navigate(srv.URL+"/topics/messages"), chromedp.WaitVisible(chromedp.ID("partitions")), shot("topic"))
	if p, m, rf := text("partition-count"), text("message-count"), text("replication-factor"); p != "3" || m != "1" || rf != "3" {
		t.Errorf("topic page: %s partitions, %s messages, rf %s; want 3, 1, 3", p, m, rf)
	}
	do(chromedp.Navigate(srv.URL+"/topics"), chromedp.WaitVisible(chromedp.ID("topics")), shot("topics"),
		chromedp.Navigate(srv.URL+"/topics/messages/messages"), chromedp.WaitVisible(chromedp.ID("messages")), shot("messages"))
	if body := text("messages"); !strings.Contains(body, "python-message") || !strings.Contains(body, "my message from python") {
		t.Errorf("messages page:\n%s", body)
	}
	do(chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("brokers")), shot("overview"))

	// A hostile record: it must stay text.
	evil := `<img src=x onerror="alert('img')"><script>alert('script')</script>`
	do(
		chromedp.Navigate(srv.URL+"/topics/messages/produce"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="value"]`), evil),
		chromedp.Submit(chromedp.ID("produce-form")),
		chromedp.WaitVisible(chromedp.ID("produced")),
		chromedp.Navigate(srv.URL+"/topics/messages/messages?seek=latest&limit=10"),
		chromedp.WaitVisible(chromedp.ID("messages")),
		chromedp.Sleep(300*time.Millisecond), // give an onerror handler, were there one, its turn
	)
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#messages script, #messages img").length`))
	if err != nil {
		t.Fatal(err)
	}
	if scripts != 0 || dialogs.Load() != 0 {
		t.Errorf("the hostile record made %d script or img elements and %d dialogs", scripts, dialogs.Load())
	}
	if shown := text("messages"); !strings.Contains(shown, evil) {
		t.Errorf("the hostile record is not shown as its text:\n%s", shown)
	}
	t.Logf("screenshots in %s", shots)
}
