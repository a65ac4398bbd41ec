package browser_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/testkit/proof"
	"github.com/paysettle/settle/internal/testkit/reporoot"
)

var update = flag.Bool("update", false, "write the screenshots to docs/img")

const (
	batch58 = "feca796837a8d9200682d48ab86940f0"
	badRows = "3fde3b99a6baa7a1245af073c8edd8b4" // 13 rows that do not parse
)

// The quick start's reports; the rejected-file walkthrough's (rows that do not parse, a batch that does
// not balance, a file that is not a report).
var (
	sample = []string{"testdata/sample"}
	bad    = []string{"testdata/bad"}
)

var (
	buildOnce sync.Once
	settleBin string
	buildErr  error
)

// settle is the settle command, built once for the package's tests.
func settle(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "settle-ui-browser")
		if err != nil {
			buildErr = err
			return
		}
		settleBin = filepath.Join(dir, "settle")
		out, err := exec.Command("go", "build", "-o", settleBin, "github.com/paysettle/settle/cmd/settle").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/settle: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return settleBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if settleBin != "" {
		os.RemoveAll(filepath.Dir(settleBin))
	}
	os.Exit(code)
}

// console runs settle run on the reports (relative to the repository's root unless absolute) in a new
// folder, as the quick start does, then settle ui on its data folder, and returns the URL it printed.
// The console is stopped (Ctrl-C) when the test ends.
func console(t *testing.T, reports ...string) string {
	t.Helper()
	chromium(t) // skipped before anything is built when there is no browser
	bin, dir, root := settle(t), t.TempDir(), reporoot.Of(t)
	if err := os.Symlink(filepath.Join(root, "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin, append([]string{"run"}, reports...)...)
	run.Dir = dir
	if out, err := run.CombinedOutput(); err != nil && run.ProcessState.ExitCode() != 1 { // 1: a file was rejected
		t.Fatalf("settle run: %v\n%s", err, out)
	}
	ui := exec.Command(bin, "ui")
	ui.Dir = dir
	stdout, err := ui.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	ui.Stderr = &stderr
	if err := ui.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ui.Process.Signal(os.Interrupt)
		if err := ui.Wait(); err != nil {
			t.Errorf("settle ui: %v\n%s", err, stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("settle ui printed no URL: %v\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	u := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`).FindString(line)
	if u == "" {
		t.Fatalf("settle ui printed %q", line)
	}
	return strings.TrimSuffix(u, "/")
}

// chromiumEnv names a Chromium (or chrome-headless-shell) binary to use instead of the ones looked for.
const chromiumEnv = "SETTLE_CHROMIUM"

// chromium is the headless Chromium to drive: Debian's chromium-headless-shell, which .ci/run installs.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv(chromiumEnv), "chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell",
		"chrome-headless-shell", "headless_shell", "chromium"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	proof.Missing(t, "headless Chromium is not installed (apt-get install chromium-headless-shell, or set %s): the console's browser tests need it", chromiumEnv)
	return ""
}

// browser is a tab of a new headless Chromium, closed when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-US"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromium(t), err)
	}
	return ctx
}

// step bounds one action: the page polls until its element is there, and gives up after a while.
func step[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, as ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, as...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.Join(strings.Fields(step(t, ctx, "the text of "+sel, chromedp.TextContent(css(sel)))), " ")
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return step(t, ctx, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q: %s", what, w, got)
		}
	}
}

// screenshot keeps the whole page as name (PNG): in the test's artifacts (go test -artifacts), and with
// -update in docs/img.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := step(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	dirs := []string{t.ArtifactDir()}
	if *update {
		dirs = append(dirs, filepath.Join(reporoot.Of(t), "docs", "img"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserQuickStartAndWalkthrough: the quick start's and the rejected-file walkthrough's folder in
// a browser: the executions with the status counts, filtered by a search; the rejected file's page with
// its graph marking Validate as the state that failed; a click on that state opens its input; its
// rejected rows.
func TestBrowserQuickStartAndWalkthrough(t *testing.T) {
	url := console(t, append(sample, bad...)...)
	ctx := browser(t)
	do(t, ctx, "open the console", chromedp.Navigate(url+"/"), chromedp.WaitVisible(css("#executions")))
	if n := textOf(t, ctx, `.count[data-status="SUCCEEDED"] .n`); n != "2" {
		t.Errorf("SUCCEEDED %s, want 2", n)
	}
	if n := textOf(t, ctx, `.count[data-status="FAILED"] .n`); n != "3" {
		t.Errorf("FAILED %s, want 3", n)
	}
	if n := count(t, ctx, "#executions tbody tr"); n != 5 {
		t.Errorf("%d executions listed, want 5", n)
	}
	contains(t, "attention", textOf(t, ctx, "#attention"), "Needs attention: 3 failed execution(s)")
	screenshot(t, ctx, "ui-executions.png")

	do(t, ctx, "search for batch 58", chromedp.SetValue(css(`input[name="q"]`), "batch_58"), chromedp.Click(css(`form.filter button`)))
	wait(t, ctx, `location.search.includes("q=batch_58") && document.readyState === "complete"`)
	if n := count(t, ctx, "#executions tbody tr"); n != 1 {
		t.Errorf("%d executions after the search, want 1", n)
	}

	do(t, ctx, "open the rejected file", chromedp.Navigate(url+"/executions/"+badRows), chromedp.WaitVisible(css("svg.graph")))
	class := step(t, ctx, "Validate's class", chromedp.AttributeValue(css(`svg.graph g[data-state="Validate"]`), "class"))
	if !strings.Contains(class.Value, "failed") {
		t.Errorf("Validate's node has class %q, want failed", class.Value)
	}
	contains(t, "Validate's node", textOf(t, ctx, `svg.graph g[data-state="Validate"]`), "✗ failed here")
	contains(t, "Transform's node", textOf(t, ctx, `svg.graph g[data-state="Transform"]`), "Transform")
	if strings.Contains(textOf(t, ctx, `svg.graph g[data-state="Transform"]`), "visited") {
		t.Error("Transform is marked visited")
	}
	if n := count(t, ctx, "svg.graph g.visited"); n != 10 {
		t.Errorf("%d states marked visited, want 10", n)
	}
	contains(t, "the cause", textOf(t, ctx, "#cause"), "13 of 15 rows rejected")
	screenshot(t, ctx, "ui-execution-failed.png")

	// A click on the failed state shows what it was given.
	do(t, ctx, "click Validate", chromedp.Click(css(`svg.graph g[data-state="Validate"] rect`)), chromedp.WaitVisible(css("#state-Validate pre")))
	contains(t, "Validate's input", textOf(t, ctx, "#state-Validate pre"), `"etag": "`+badRows+`"`)

	do(t, ctx, "open the rejected rows", chromedp.Click(css("#rejected-link")))
	wait(t, ctx, `document.getElementById("rejects") !== null && document.readyState === "complete"`)
	if n := count(t, ctx, "#rejects tbody tr"); n != 13 {
		t.Errorf("%d rejected rows, want 13", n)
	}
	contains(t, "line 3", textOf(t, ctx, `#rejects tr[data-line="3"]`), `Gross Credit (GC): "12,50" not a decimal number`)
	screenshot(t, ctx, "ui-rejected-rows.png")

	// The failed-files queue holds the three rejected files; the batches page the sample's account.
	do(t, ctx, "open the failed files", chromedp.Click(css(`header nav a[href="/failed"]`)))
	wait(t, ctx, `document.getElementById("messages") !== null && document.readyState === "complete"`)
	if n := count(t, ctx, `#messages tbody tr[data-queue="failed"]`); n != 3 {
		t.Errorf("%d failed-files messages, want 3", n)
	}
	contains(t, "the bad rows' message", textOf(t, ctx, `#messages tr:has(a[href="/executions/`+badRows+`"])`), "rejected", "Validate", "ValidationError")
	screenshot(t, ctx, "ui-failed-files.png")
	do(t, ctx, "open the batches", chromedp.Click(css(`header nav a[href="/batches"]`)))
	wait(t, ctx, `document.querySelector('[data-merchant="AcmeShopNL"]') !== null && document.readyState === "complete"`)
	contains(t, "the account", textOf(t, ctx, `[data-merchant="AcmeShopNL"]`), "2 batches; last batch 58")
	if n := count(t, ctx, `.timeline .slot`); n != 2 {
		t.Errorf("%d batches on the timeline, want 57 and 58", n)
	}
}

// TestBrowserReprocessByClicking: on the rejected file's page, Reprocess (its max rejected rows
// prefilled with the 13 the remedy counted) starts a new execution that ends SUCCEEDED, and the page
// it leads to says so.
func TestBrowserReprocessByClicking(t *testing.T) {
	url := console(t, bad...)
	ctx := browser(t)
	do(t, ctx, "open the rejected file", chromedp.Navigate(url+"/executions/"+badRows), chromedp.WaitVisible(css("#reprocess")))
	contains(t, "what to do", textOf(t, ctx, "#advice"), "settle reprocess "+badRows+" --max-rejected 13 commits the others")
	if v := step(t, ctx, "max rejected", chromedp.Value(css("#max-rejected"))); v != "13" {
		t.Errorf("max rejected prefilled %q, want 13", v)
	}
	do(t, ctx, "reprocess", chromedp.Click(css("#reprocess")))
	wait(t, ctx, `document.getElementById("done") !== null && document.readyState === "complete"`)
	if got := textOf(t, ctx, "#status"); got != "SUCCEEDED" {
		t.Errorf("the reprocess is %s", got)
	}
	if loc := step(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/executions/"+badRows+"-p1?done=started") {
		t.Errorf("at %s", loc)
	}
	contains(t, "rows", textOf(t, ctx, "#rows"), "2 written, 13 rejected")
	contains(t, "policy", textOf(t, ctx, "#policy"), "at most 13 rejected rows")
	if n := count(t, ctx, "svg.graph g.failed"); n != 0 {
		t.Errorf("%d states marked failed on a success", n)
	}
	screenshot(t, ctx, "ui-reprocessed.png")
	// The list has it too, newest first.
	do(t, ctx, "open the executions", chromedp.Navigate(url+"/"), chromedp.WaitVisible(css("#executions")))
	if got := textOf(t, ctx, "#executions tbody tr:first-child"); !strings.HasPrefix(got, badRows+"-p1 SUCCEEDED") {
		t.Errorf("the newest execution reads %q", got)
	}
}

// TestBrowserRequestWithoutTokenIsRefused: a form without the console's token is refused, whether a page
// of another site sends it or the console's own form has lost it; nothing is started.
func TestBrowserRequestWithoutTokenIsRefused(t *testing.T) {
	url := console(t, bad...)
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/executions/%s/reprocess"><input name="max_rejected" value="13"><input name="token" value="guessed"><button id="go">Win a prize</button></form>`, url, badRows)
	}))
	t.Cleanup(attacker.Close)
	ctx := browser(t)
	do(t, ctx, "another site's form", chromedp.Navigate(attacker.URL), chromedp.Click(css("#go")), chromedp.WaitVisible(css("body")))
	waitText(t, ctx, "refused")

	do(t, ctx, "the console's form without its token", chromedp.Navigate(url+"/executions/"+badRows), chromedp.WaitVisible(css("#reprocess")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#reprocess-form input[name="token"]').remove(), true`)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "reprocess without the token", chromedp.Click(css("#reprocess")))
	waitText(t, ctx, "refused")
	screenshot(t, ctx, "ui-refused.png")
	// Nothing was started.
	do(t, ctx, "open the executions", chromedp.Navigate(url+"/"), chromedp.WaitVisible(css("#executions")))
	if n := count(t, ctx, "#executions tbody tr"); n != 3 {
		t.Errorf("%d executions after the refusals, want the 3 run", n)
	}
}

// navigated says whether a poll ended because its page was left (a click's navigation).
func navigated(err error) bool {
	m := err.Error()
	return strings.Contains(m, "navigated or closed") || strings.Contains(m, "context was destroyed") || strings.Contains(m, "Cannot find context")
}

// waitText waits until the page's text holds want.
func waitText(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	wait(t, ctx, fmt.Sprintf("document.body && document.body.innerText.includes(%q)", want))
}

// wait waits until a JavaScript expression holds on the page, past the navigation a click started (which
// ends a poll begun on the page before it).
func wait(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := chromedp.Run(sctx, chromedp.Poll[bool](expr))
		switch {
		case err == nil:
			return
		case sctx.Err() == nil && navigated(err): // the page it polled went away: poll the next one
			continue
		}
		t.Fatalf("waited in vain for %s: %v", expr, err)
	}
}

// batch60 writes a report of the sample's account's batch 60 (which leaves 59 missing), and returns its path.
func batch60(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := gen.Write(&b, gen.Config{Rows: 20, Merchant: "AcmeShopNL", Company: "AcmeCompany", Batch: 60, SettlementDate: "2024-05-08"}); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "settlement_detail_report_batch_60.csv")
	if err := os.WriteFile(report, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return report
}

// TestBrowserBatches: the account's timeline shows its batches and the gap between them, and the gap is
// acknowledged from the page.
func TestBrowserBatches(t *testing.T) {
	url := console(t, append(sample, batch60(t))...)
	ctx := browser(t)
	do(t, ctx, "open the batches", chromedp.Navigate(url+"/batches"), chromedp.WaitVisible(css(`.timeline [data-batch="59"]`)))
	contains(t, "batch 59", textOf(t, ctx, `.timeline [data-batch="59"]`), "59 pending")
	screenshot(t, ctx, "ui-batches.png")
	do(t, ctx, "acknowledge 59", chromedp.SetValue(css(`form.ack input[name="by"]`), "ana"),
		chromedp.SetValue(css(`form.ack input[name="reason"]`), "Adyen: number skipped"),
		chromedp.Click(css(`form.ack button`)))
	wait(t, ctx, `document.getElementById("done") !== null && document.readyState === "complete"`)
	contains(t, "batch 59", textOf(t, ctx, `.timeline [data-batch="59"]`), "acknowledged (ana: Adyen: number skipped)")
}
