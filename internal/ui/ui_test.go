package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/testkit/reporoot"
	"github.com/paysettle/settle/internal/ui"
)

// The executions of the repository's reports (their ETags).
const (
	batch57   = "dbb8e651909be6dcdda3de38fa9b00a0"
	batch58   = "feca796837a8d9200682d48ab86940f0"
	badRows   = "3fde3b99a6baa7a1245af073c8edd8b4" // 13 rows that do not parse
	unbalance = "908263f885fb01d1d1ad04fbddf280e9"
	notReport = "7daf4e7752308b286310eb0a8b110e6c"
)

// client follows no redirect, so that a test sees what an action answers.
var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// page is a fetched page, parsed.
type page struct {
	t      *testing.T
	status int
	header http.Header
	body   string
	root   *html.Node
}

func do(t *testing.T, req *http.Request) page {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := page{t: t, status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.root, err = html.Parse(strings.NewReader(p.body)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func get(t *testing.T, u string) page {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func post(t *testing.T, u string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

// find is every element for which match holds, in document order.
func (p page) find(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if p.root != nil {
		walk(p.root)
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// with is a matcher of an attribute's value.
func with(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, key) == val }
}

// text is an element's text, its spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
		case html.ElementNode: // cells and blocks are separate words
			b.WriteString(" ")
			defer b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// one is the only element with the attribute's value; the test fails without exactly one.
func (p page) one(key, val string) *html.Node {
	p.t.Helper()
	ns := p.find(with(key, val))
	if len(ns) != 1 {
		p.t.Fatalf("%d elements with %s=%q, want 1; page:\n%s", len(ns), key, val, p.body)
	}
	return ns[0]
}

func (p page) textOf(id string) string {
	p.t.Helper()
	return text(p.one("id", id))
}

func (p page) wantStatus(want int) {
	p.t.Helper()
	if p.status != want {
		p.t.Fatalf("status %d, want %d:\n%s", p.status, want, p.body)
	}
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q: %s", what, w, got)
		}
	}
}

// names are the executions a list shows, in order.
func (p page) names() []string {
	var out []string
	for _, tr := range p.find(func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-name") != "" }) {
		out = append(out, attr(tr, "data-name"))
	}
	return out
}

// TestUIExecutionsOfTheQuickStart: the quick start's and the walkthrough's files, run by the pipeline,
// are listed newest first with the status page's counts on top; the filters by status and by file name
// or ETag keep exactly the matching executions.
func TestUIExecutionsOfTheQuickStart(t *testing.T) {
	c := newConsole(t, nil, append(sample, bad...)...)
	p := get(t, c.URL+"/")
	p.wantStatus(http.StatusOK)
	counts := map[string]string{}
	for _, n := range p.find(func(n *html.Node) bool {
		return attr(n, "data-status") != "" && strings.Contains(attr(n, "class"), "count")
	}) {
		counts[attr(n, "data-status")] = text(n)
	}
	if counts[states.Succeeded] != "2 SUCCEEDED" || counts[states.Failed] != "3 FAILED · needs attention" && counts[states.Failed] != "3 FAILED" {
		t.Errorf("counts %v", counts)
	}
	if q := text(p.one("data-queue", "failed")); q != "failed 3 0" {
		t.Errorf("the failed-files queue reads %q, want 3 waiting", q)
	}
	contains(t, "attention", p.textOf("attention"), "3 failed execution(s)")
	contains(t, "oldest", p.textOf("oldest"), "none running")
	// Newest first: the bad files ran after the sample, in path order.
	want := []string{unbalance, badRows, notReport, batch58, batch57}
	if got := p.names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("executions %v, want %v", got, want)
	}
	for name, wantNames := range map[string][]string{
		"?status=FAILED":     {unbalance, badRows, notReport},
		"?status=succeeded":  {batch58, batch57},
		"?q=batch_58":        {batch58},
		"?q=3FDE3B99":        {badRows},
		"?q=nothing-like-it": nil,
	} {
		got := get(t, c.URL+"/"+name).names()
		if strings.Join(got, " ") != strings.Join(wantNames, " ") {
			t.Errorf("%s: %v, want %v", name, got, wantNames)
		}
	}
	if p := get(t, c.URL+"/?status=DONE"); p.status != http.StatusBadRequest || !strings.Contains(text(p.one("id", "error")), "not an execution status") {
		t.Errorf("a bad status: %d %s", p.status, p.body)
	}
}

// stateNode is the graph's node of a state.
func (p page) stateNode(state string) *html.Node {
	p.t.Helper()
	return p.one("data-state", state)
}

func classes(n *html.Node) map[string]bool {
	out := map[string]bool{}
	for _, c := range strings.Fields(attr(n, "class")) {
		out[c] = true
	}
	return out
}

// TestUIFailedExecutionGraph: a file rejected at Validate shows the definition's every state, the path
// it took (visited states, in class and in text) with Validate marked as the state that failed, the cause,
// the reprocess that lets it through, each state's input and output, and its rejected rows.
func TestUIFailedExecutionGraph(t *testing.T) {
	c := newConsole(t, nil, bad...)
	p := get(t, c.URL+"/executions/"+badRows)
	p.wantStatus(http.StatusOK)
	if got := p.textOf("status"); got != "FAILED" {
		t.Errorf("status %q", got)
	}
	if got := p.textOf("failed-step"); got != "Validate" {
		t.Errorf("failed at %q", got)
	}
	contains(t, "the cause", p.textOf("cause"), "13 of 15 rows rejected", `Gross Credit (GC): "12,50" not a decimal number`)
	// Every state of the definition is drawn.
	if n := len(p.find(func(n *html.Node) bool { return n.Data == "g" && attr(n, "data-state") != "" })); n != 19 {
		t.Errorf("%d states drawn, want the definition's 19", n)
	}
	validate := p.stateNode("Validate")
	if cl := classes(validate); !cl["failed"] || !cl["visited"] {
		t.Errorf("Validate's classes %v, want visited and failed", cl)
	}
	contains(t, "Validate's node", text(validate), "✗ failed here")
	for _, s := range []string{"Check", "Already processed?", "Validate failed", "What to do?", "Advise: fix rows", "Describe failure", "Send to failed-files DLQ", "Notify", "Rejected"} {
		n := p.stateNode(s)
		if cl := classes(n); !cl["visited"] || cl["failed"] {
			t.Errorf("%s: classes %v, want visited only", s, cl)
		}
		contains(t, s+"'s node", text(n), "✓ visited")
	}
	for _, s := range []string{"Transform", "Write", "Done", "Duplicate", "Check failed", "Advise: replace file"} {
		if cl := classes(p.stateNode(s)); cl["visited"] || cl["failed"] {
			t.Errorf("%s: classes %v, want neither visited nor failed", s, cl)
		}
	}
	// Each transition taken is marked: Validate → Validate failed (its catcher); not Validate → Transform.
	taken := map[string]bool{}
	for _, e := range p.find(func(n *html.Node) bool { return n.Data == "path" && classes(n)["taken"] }) {
		taken[text(e)] = true
	}
	if !taken["Validate → Validate failed (catch)"] || taken["Validate → Transform (next)"] || len(taken) != 9 {
		t.Errorf("taken transitions %v", taken)
	}
	// A visited state links to its input and output.
	link := validate.Parent
	if link.Data != "a" || attr(link, "href") != "#state-Validate" {
		t.Errorf("Validate's node is in %s %v, want a link to #state-Validate", link.Data, link.Attr)
	}
	io := p.one("id", "state-Validate")
	contains(t, "Validate's input", text(io), `"etag": "`+badRows+`"`)
	// The reprocess that lets it through, with the rejected rows the remedy counted (the advice's
	// words are the command's: cmd/settle's TestUI proves them).
	if v := attr(p.one("id", "max-rejected"), "value"); v != "13" {
		t.Errorf("max rejected prefilled %q, want 13", v)
	}
	if len(p.find(with("id", "redrive-form"))) != 0 {
		t.Error("a rejected file's page offers a redrive")
	}
	// Its rejected rows, with line, reason and raw text.
	rows := get(t, c.URL+"/executions/"+badRows+"/rejected")
	rows.wantStatus(http.StatusOK)
	lines := rows.find(func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-line") != "" })
	if len(lines) != 13 {
		t.Fatalf("%d rejected rows shown, want 13", len(lines))
	}
	contains(t, "line 3", text(rows.one("data-line", "3")), `Gross Credit (GC): "12,50" not a decimal number`, "AcmeShopNL")
}

// TestUIStateInputDownload: a state's input and output are downloaded whole, as JSON attachments.
func TestUIStateInputDownload(t *testing.T) {
	c := newConsole(t, nil, "testdata/sample/settlement_detail_report_batch_57.csv")
	p := get(t, c.URL+"/executions/"+batch57)
	p.wantStatus(http.StatusOK)
	links := p.find(func(n *html.Node) bool {
		return n.Data == "a" && strings.HasPrefix(attr(n, "href"), "/executions/"+batch57+"/events/") && strings.HasSuffix(attr(n, "href"), "/output")
	})
	if len(links) == 0 {
		t.Fatal("no output to download")
	}
	d := get(t, c.URL+attr(links[len(links)-1], "href"))
	d.wantStatus(http.StatusOK)
	if ct, cd := d.header.Get("Content-Type"), d.header.Get("Content-Disposition"); ct != "application/json" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("download: %s, %s", ct, cd)
	}
	contains(t, "Write's output", d.body, `"manifestKey"`)
	if p := get(t, c.URL+"/executions/"+batch57+"/events/999/output"); p.status != http.StatusNotFound {
		t.Errorf("an unknown event: %d", p.status)
	}
}

// TestUISucceededExecutionBatch: a committed file's page shows the batch: rows, partition, policy,
// warnings and the totals per currency, exact to the currency's minor units.
func TestUISucceededExecutionBatch(t *testing.T) {
	c := newConsole(t, nil, sample...)
	p := get(t, c.URL+"/executions/"+batch57)
	p.wantStatus(http.StatusOK)
	contains(t, "rows", p.textOf("rows"), "11 written, 0 rejected")
	contains(t, "policy", p.textOf("policy"), "at most 0 rejected rows, balance check on")
	if cl := classes(p.stateNode("Done")); !cl["visited"] {
		t.Errorf("Done: %v", cl)
	}
	for _, n := range p.find(func(n *html.Node) bool { return n.Data == "g" && classes(n)["failed"] }) {
		t.Errorf("a succeeded execution marks %s failed", attr(n, "data-state"))
	}
	// The two batches' totals add up to the quick start's (README): EUR 227185.46 3350.00 235658.42
	// 235658.42, JPY 2715928 52695 3143786 3143786.
	for name, want := range map[string][]string{
		batch57: {"EUR 60.00 4.50 103.97 103.97", "JPY 3158 38 3120 3120"},
		batch58: {"EUR 227125.46 3345.50 235554.45 235554.45", "JPY 2712770 52657 3140666 3140666"},
	} {
		p := get(t, c.URL+"/executions/"+name)
		for i, cur := range []string{"EUR", "JPY"} {
			if got := text(p.one("data-currency", cur)); got != want[i] {
				t.Errorf("%s: %s totals %q, want %q", name, cur, got, want[i])
			}
		}
	}
	if p := get(t, c.URL+"/executions/nope"); p.status != http.StatusNotFound {
		t.Errorf("an unknown execution: %d", p.status)
	}
}

// TestUIActionsNeedTheToken: an action without the run's token, with another, from another site or by
// GET is refused and does nothing; a request to another host name is refused (DNS rebinding).
func TestUIActionsNeedTheToken(t *testing.T) {
	c := newConsole(t, func(o *ui.Options) { o.Token = "the-token" }, bad...)
	u := c.URL + "/executions/" + badRows + "/reprocess"
	for name, form := range map[string]url.Values{
		"no token":    {"max_rejected": {"13"}},
		"empty token": {"max_rejected": {"13"}, "token": {""}},
		"wrong token": {"max_rejected": {"13"}, "token": {"the-tokeN"}},
	} {
		p := post(t, u, form)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "refused") {
			t.Errorf("%s: %d %s", name, p.status, p.body)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader("token=the-token&max_rejected=13"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := do(t, req); p.status != http.StatusForbidden {
		t.Errorf("cross-site: %d", p.status)
	}
	if p := get(t, u+"?token=the-token&max_rejected=13"); p.status != http.StatusMethodNotAllowed {
		t.Errorf("by GET: %d", p.status)
	}
	if p := get(t, c.URL+"/executions/"+badRows+"/redrive"); p.status != http.StatusMethodNotAllowed {
		t.Errorf("redrive by GET: %d", p.status)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, c.URL+"/", nil)
	req.Host = "attacker.example:80"
	if p := do(t, req); p.status != http.StatusForbidden {
		t.Errorf("another host name: %d", p.status)
	}
	// Nothing was started.
	xs, err := c.Op.Executions(t.Context(), "", timeZero, 0)
	if err != nil || len(xs) != 3 {
		t.Errorf("%d executions after the refusals, want the 3 run: %v", len(xs), err)
	}
	// The same form with the token goes through.
	if p := post(t, u, url.Values{"token": {"the-token"}, "max_rejected": {"13"}}); p.status != http.StatusSeeOther {
		t.Errorf("with the token: %d %s", p.status, p.body)
	}
}

// TestUIReprocessWithMaxRejected: the rejected file reprocessed from its page, allowing its 13 rows,
// is a new execution that ends SUCCEEDED, committing the 2 others under that policy; a dry run first
// starts nothing.
func TestUIReprocessWithMaxRejected(t *testing.T) {
	c := newConsole(t, nil, bad...)
	token := c.Server.Token()
	u := c.URL + "/executions/" + badRows + "/reprocess"
	dry := post(t, u, url.Values{"token": {token}, "max_rejected": {"13"}, "dry_run": {"1"}})
	dry.wantStatus(http.StatusOK)
	contains(t, "dry run", dry.textOf("result"), "Dry run: nothing was done", "started", badRows+"-p1", "allows 13 rejected rows")
	if _, err := c.Op.Describe(t.Context(), badRows+"-p1"); err == nil {
		t.Fatal("the dry run started an execution")
	}
	p := post(t, u, url.Values{"token": {token}, "max_rejected": {"13"}})
	p.wantStatus(http.StatusSeeOther)
	loc := p.header.Get("Location")
	if loc != "/executions/"+badRows+"-p1?done=started" {
		t.Fatalf("redirected to %q", loc)
	}
	p = get(t, c.URL+loc)
	p.wantStatus(http.StatusOK)
	if got := p.textOf("status"); got != states.Succeeded {
		t.Errorf("the reprocess is %s, want SUCCEEDED", got)
	}
	contains(t, "done", p.textOf("done"), "started")
	contains(t, "rows", p.textOf("rows"), "2 written, 13 rejected")
	contains(t, "policy", p.textOf("policy"), "at most 13 rejected rows")
	contains(t, "file", p.textOf("file"), "at most 13 rejected rows")
	// A bad value is refused as the command refuses it.
	if p := post(t, u, url.Values{"token": {token}, "max_rejected": {"-1"}}); p.status != http.StatusBadRequest {
		t.Errorf("max rejected -1: %d", p.status)
	}
}

// TestUIRedriveOfARejectedFileIsRefused: a redrive of a rejected file does nothing and says which
// reprocess lets it through, as settle redrive does.
func TestUIRedriveOfARejectedFileIsRefused(t *testing.T) {
	c := newConsole(t, func(o *ui.Options) { o.Advice = func(*ops.Detail) string { return "reprocess it" } }, bad...)
	p := post(t, c.URL+"/executions/"+badRows+"/redrive", url.Values{"token": {c.Server.Token()}})
	p.wantStatus(http.StatusOK)
	contains(t, "result", p.textOf("result"), "skipped", "rejected (ValidationError)")
	if got := p.textOf("advice"); got != "reprocess it" {
		t.Errorf("advice %q", got)
	}
	x, err := c.Op.Describe(t.Context(), badRows)
	if err != nil || x.RedriveCount != 0 {
		t.Errorf("redriven anyway: %+v %v", x, err)
	}
}

// TestUIReplaceAsksFirst: a reprocess that replaces a committed batch shows its plan and runs only
// once that plan is confirmed.
func TestUIReplaceAsksFirst(t *testing.T) {
	c := newConsole(t, nil, sample...)
	u := c.URL + "/executions/" + batch57 + "/reprocess"
	p := post(t, u, url.Values{"token": {c.Server.Token()}, "replace": {"on"}})
	p.wantStatus(http.StatusOK)
	contains(t, "plan", p.textOf("confirm"), "would be started", batch57+"-p1", "replaces the batch's committed file", "Replace the batch's committed file with this one?")
	if _, err := c.Op.Describe(t.Context(), batch57+"-p1"); err == nil {
		t.Fatal("the plan started an execution")
	}
	form := url.Values{}
	for _, in := range p.find(func(n *html.Node) bool { return n.Data == "input" && attr(n, "type") == "hidden" }) {
		form.Add(attr(in, "name"), attr(in, "value"))
	}
	p = post(t, u, form)
	p.wantStatus(http.StatusSeeOther)
	if p = get(t, c.URL+p.header.Get("Location")); p.textOf("status") != states.Succeeded {
		t.Errorf("the confirmed replace: %s", p.textOf("status"))
	}
}

// TestUIFailedFilesAndBatches: the failed-files queue lists the rejected files' messages; the batches
// page shows the account's committed batches and, once a batch is acknowledged from it, that.
func TestUIFailedFilesAndBatches(t *testing.T) {
	// Batch 60 after the sample's 57 and 58: 59 is a gap (pending: within the grace period).
	var b bytes.Buffer
	if _, err := gen.Write(&b, gen.Config{Rows: 20, Merchant: "AcmeShopNL", Company: "AcmeCompany", Batch: 60, SettlementDate: "2024-05-08"}); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "settlement_detail_report_batch_60.csv")
	if err := os.WriteFile(report, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newConsole(t, nil, append(append(sample, bad...), report)...)
	p := get(t, c.URL+"/failed")
	p.wantStatus(http.StatusOK)
	if n := len(p.find(func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-id") != "" })); n != 3 {
		t.Errorf("%d messages, want 3:\n%s", n, p.body)
	}
	p = get(t, c.URL+"/batches")
	p.wantStatus(http.StatusOK)
	acct := p.one("data-merchant", "AcmeShopNL")
	contains(t, "account", text(acct), "adyen/AcmeShopNL", "3 batches", "last batch 60", "pending 1")
	for _, n := range []string{"57", "58", "60"} {
		if cl := classes(p.one("data-batch", n)); cl["gap"] {
			t.Errorf("batch %s is a gap on the timeline: %v", n, cl)
		}
	}
	if cl := classes(p.one("data-batch", "59")); !cl["gap-pending"] {
		t.Errorf("batch 59: %v, want a pending gap", cl)
	}
	// Acknowledged from the page: the gap is then marked so.
	form := url.Values{}
	for _, in := range p.find(func(n *html.Node) bool { return n.Data == "input" && attr(n, "type") == "hidden" }) {
		form.Set(attr(in, "name"), attr(in, "value"))
	}
	form.Set("by", "ana")
	form.Set("reason", "Adyen: number skipped")
	r := post(t, c.URL+"/batches/ack", form)
	r.wantStatus(http.StatusSeeOther)
	p = get(t, c.URL+r.header.Get("Location"))
	contains(t, "done", p.textOf("done"), "acknowledged")
	slot := p.one("data-batch", "59")
	if cl := classes(slot); !cl["gap-acknowledged"] {
		t.Errorf("batch 59 after the acknowledgement: %v", cl)
	}
	contains(t, "batch 59", text(slot), "ana: Adyen: number skipped")
}

var timeZero = time.Time{}

// TestUIRunningExecutionUpdates: while a file is in its Transform step, its page says RUNNING, marks
// Transform as the running state and reloads itself; the executions page counts it as the oldest waiting
// file and reloads itself too. Once the step goes on, the pages show it SUCCEEDED and reload no more.
func TestUIRunningExecutionUpdates(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	hold := func(arn string, task engine.TaskFunc) engine.TaskFunc {
		if arn != local.FunctionARN("transform") {
			return task
		}
		return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return task(ctx, in)
		}
	}
	c := newConsoleWith(t, local.Options{WrapTask: hold}, nil)
	done := make(chan local.FileResult, 1)
	go func() {
		done <- c.Env.Run(context.Background(), filepath.Join(reporoot.Of(t), "testdata/sample/settlement_detail_report_batch_57.csv"))
	}()
	<-entered
	p := get(t, c.URL+"/executions/"+batch57)
	p.wantStatus(http.StatusOK)
	if got := p.textOf("status"); got != states.Running {
		t.Errorf("status %q, want RUNNING", got)
	}
	if cl := classes(p.stateNode("Transform")); !cl["current"] {
		t.Errorf("Transform: %v, want current", cl)
	}
	contains(t, "Transform's node", text(p.stateNode("Transform")), "▶ running")
	refresh := p.find(func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "refresh" })
	if len(refresh) != 1 || attr(refresh[0], "content") != "2" {
		t.Errorf("the running page does not reload itself: %v", refresh)
	}
	contains(t, "live", p.textOf("live"), "updates itself")
	list := get(t, c.URL+"/")
	contains(t, "oldest", list.textOf("oldest"), "settlement_detail_report_batch_57.csv", "running since")
	if ns := list.find(func(n *html.Node) bool { return classes(n)["count"] && attr(n, "data-status") == states.Running }); len(ns) != 1 || text(ns[0]) != "1 RUNNING" {
		t.Errorf("the running count: %d elements, %v", len(ns), ns)
	}
	if got := list.names(); len(got) != 1 || got[0] != batch57 {
		t.Errorf("listed %v", got)
	}
	if refresh := list.find(func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "refresh" }); len(refresh) != 1 || attr(refresh[0], "content") != "5" {
		t.Errorf("the executions page does not reload itself while one runs: %v", refresh)
	}
	contains(t, "the list's live notice", list.textOf("live"), "updates itself")
	close(release)
	if r := <-done; r.Status != local.Succeeded {
		t.Fatalf("the run: %+v", r)
	}
	p = get(t, c.URL+"/executions/"+batch57)
	if got := p.textOf("status"); got != states.Succeeded {
		t.Errorf("after: %q", got)
	}
	if len(p.find(func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "refresh" })) != 0 {
		t.Error("a finished execution's page still reloads itself")
	}
	if list := get(t, c.URL+"/"); len(list.find(func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "refresh" })) != 0 {
		t.Error("the executions page still reloads itself with nothing running")
	}
}

// TestUIRedriveTheFailedFilesQueue: the failed-files queue's restart shows its plan first and changes
// nothing; confirmed, it restarts each rejected file as a new execution (rejected again under the same
// configuration, so its message is replaced by the new execution's), as dlq redrive failed does.
func TestUIRedriveTheFailedFilesQueue(t *testing.T) {
	c := newConsole(t, nil, bad...)
	p := get(t, c.URL+"/failed")
	p.wantStatus(http.StatusOK)
	if len(p.find(with("id", "redrive-failed"))) != 1 || len(p.find(func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "id" })) != 3 {
		t.Fatalf("the failed page offers no restart of the queue and of each of its 3 messages:\n%s", p.body)
	}
	plan := post(t, c.URL+"/failed/redrive", url.Values{"token": {c.Server.Token()}})
	plan.wantStatus(http.StatusOK)
	rows := plan.find(func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-execution") != "" })
	if len(rows) != 3 {
		t.Fatalf("the plan lists %d files, want 3:\n%s", len(rows), plan.body)
	}
	contains(t, "the plan", plan.textOf("result"), "Plan of settle dlq redrive failed", "Restart them and delete their messages?", "rejected (ValidationError) before: new execution of the same file")
	if xs, _ := c.Op.Executions(t.Context(), "", timeZero, 0); len(xs) != 3 {
		t.Fatalf("the plan started executions: %d", len(xs))
	}
	form := url.Values{}
	for _, in := range plan.find(func(n *html.Node) bool { return n.Data == "input" && attr(n, "type") == "hidden" }) {
		form.Add(attr(in, "name"), attr(in, "value"))
	}
	done := post(t, c.URL+"/failed/redrive", form)
	done.wantStatus(http.StatusOK)
	for _, name := range []string{badRows, unbalance, notReport} {
		got := text(done.one("data-execution", name))
		contains(t, name, got, "started", name+"-p1")
		x, err := c.Op.Describe(t.Context(), name+"-p1")
		if err != nil || x.Status != states.Failed {
			t.Errorf("%s-p1: %+v %v", name, x.Status, err)
		}
	}
	msgs, err := c.Op.DLQList(t.Context(), "", 100)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if !strings.HasSuffix(m.Execution, "-p1") {
			t.Errorf("a message of %s stayed", m.Execution)
		}
	}
}

// TestUIActionOutlivesItsTab: a reprocess whose request goes away (the tab closed) while its execution
// runs is not aborted with it: the execution ends SUCCEEDED.
func TestUIActionOutlivesItsTab(t *testing.T) {
	entered, release, ended := make(chan struct{}), make(chan struct{}), make(chan string, 1)
	var once bool
	hold := func(arn string, task engine.TaskFunc) engine.TaskFunc {
		if arn != local.FunctionARN("transform") {
			return task
		}
		return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
			if !once { // only the reprocess's Transform: the first run is rejected before it
				once = true
				close(entered)
				<-release
			}
			return task(ctx, in)
		}
	}
	end := func(name string, ev engine.Event) {
		switch ev.Type {
		case engine.EventExecutionSucceeded, engine.EventExecutionFailed, engine.EventExecutionAborted:
			if name == badRows+"-p1" {
				ended <- ev.Type
			}
		}
	}
	c := newConsoleWith(t, local.Options{WrapTask: hold, OnEvent: end}, nil, "testdata/bad/settlement_detail_report_batch_91_bad_rows.csv")
	ctx, closeTab := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/executions/"+badRows+"/reprocess",
		strings.NewReader(url.Values{"token": {c.Server.Token()}, "max_rejected": {"13"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sent := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		sent <- err
	}()
	<-entered
	closeTab()
	if err := <-sent; err == nil {
		t.Fatal("the request ended before its tab closed")
	}
	close(release)
	if got := <-ended; got != engine.EventExecutionSucceeded {
		t.Errorf("the reprocess ended %s, want %s", got, engine.EventExecutionSucceeded)
	}
}
