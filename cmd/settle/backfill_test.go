package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// devReports is a dev server playing Adyen's report host for AcmeShopNL's batches: the reports it
// holds by batch number, 404 for the others. It counts the requests per batch.
type devReports struct {
	srv      *httptest.Server
	mu       sync.Mutex
	reports  map[int64][]byte
	requests map[int64]int
}

func newDevReports(t *testing.T) *devReports {
	t.Helper()
	d := &devReports{reports: map[int64][]byte{}, requests: map[int64]int{}}
	prefix := "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_"
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		num, _ := strings.CutPrefix(r.URL.Path, prefix)
		n, _ := strconv.ParseInt(strings.TrimSuffix(num, ".csv"), 10, 64)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.requests[n]++
		b, ok := d.reports[n]
		if !ok || !strings.HasPrefix(r.URL.Path, prefix) {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *devReports) serve(t *testing.T, batch int64) {
	t.Helper()
	var b bytes.Buffer
	date := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(batch)).Format(time.DateOnly)
	if _, err := gen.Write(&b, gen.Config{Rows: 6, Seed: uint64(batch), Merchant: "AcmeShopNL", Batch: batch, SettlementDate: date}); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reports[batch] = b.Bytes()
}

// asked returns the requests since the last call.
func (d *devReports) asked() map[int64]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.requests
	d.requests = map[int64]int{}
	return r
}

func (d *devReports) addr() string { return strings.TrimPrefix(d.srv.URL, "http://") }

// settle fetch --merchant M --batches LIST against a dev server: each batch's progress on stderr, the
// summary on stdout (fetched, already there, not found, failed with why), exit 1 for a failed batch;
// run again, it asks only for what is not committed; --missing asks for the ledger's missing batches.
func TestFetchBatches(t *testing.T) {
	d := newDevReports(t)
	for _, n := range []int64{1, 2, 3, 5, 6} {
		d.serve(t, n)
	}
	d.mu.Lock()
	d.reports[6] = []byte("Company Account,Merchant Account\nnot,a report\n") // rejected by the pipeline
	d.mu.Unlock()
	clock := newTestClock()
	data := filepath.Join(t.TempDir(), "data")
	settle := func(args ...string) (string, string, int) {
		t.Helper()
		a, out, errb := testApp(clock, false, "")
		code := execute(context.Background(), args, a)
		return out.String(), errb.String(), code
	}

	out, errOut, code := settle("fetch", "--data", data, "--dev-server", d.addr(), "--merchant", "AcmeShopNL", "--batches", "1-7", "--concurrency", "2")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (batch 6 fails)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Backfill of AcmeShopNL, batches 1-7, from " + d.srv.URL + ":",
		"  fetched        4\n  already there  0\n  not found      2\n  failed         1\n",
		"Not found (the report host has no such report, or not yet): 4, 7.",
		"Failed:\n  batch 6: InvalidFileError: " + data + "/raw/incoming/AcmeShopNL/settlement_detail_report_batch_6.csv: line 1: not an Adyen settlement details report",
		" (settle show ",
		"failed downloads in " + data + "/fetch-dlq; settle batches --merchant AcmeShopNL --data " + data + " shows the ledger.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3://") {
		t.Errorf("local output names s3:// addresses:\n%s", out)
	}
	if !strings.HasPrefix(errOut, "settle: backfill of AcmeShopNL from "+d.srv.URL+": 7 batches, 0 already committed, 7 to ask for\n") ||
		strings.Count(errOut, "settle: [") != 7 || !strings.Contains(errOut, "] batch 4: not found\n") || !strings.Contains(errOut, "] batch 6: failed: ") ||
		!strings.HasSuffix(errOut, "settle: 1 of 7 batches failed\n") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if got := d.asked(); len(got) != 7 {
		t.Errorf("asked %v, want each of 1-7 once", got)
	}

	// Again, as JSON: the committed batches are not asked for; the others are, and batch 6 is still
	// rejected (a delivery does not run a rejected content again).
	out, _, code = settle("fetch", "--data", data, "--dev-server", d.addr(), "--merchant", "AcmeShopNL", "--batches", "1-7", "--json")
	var s ops.BackfillSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if s.Batches != 7 || s.AlreadyThere != 4 || s.NotFound != 2 || s.Failed != 1 || s.Fetched != 0 || len(s.Items) != 7 ||
		s.Items[5].Outcome != ops.BackfillFailed || !strings.Contains(s.Items[5].Error, "rejected by an earlier execution") {
		t.Errorf("rerun: %+v", s)
	}
	if got := d.asked(); len(got) != 3 || got[4] != 1 || got[6] != 1 || got[7] != 1 {
		t.Errorf("the rerun asked %v, want 4, 6 and 7", got)
	}

	// Two days later batch 4 is still missing between 3 and 5: --missing asks for it (7 is no gap).
	clock.Advance(49 * time.Hour)
	d.serve(t, 4)
	out, errOut, code = settle("fetch", "--data", data, "--dev-server", d.addr(), "--merchant", "AcmeShopNL", "--missing", "--dry-run")
	if code != 0 || !strings.Contains(out, "  to ask for     1\n") || !strings.Contains(out, "To ask for: 4.") || len(d.asked()) != 0 {
		t.Errorf("--missing --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = settle("fetch", "--data", data, "--dev-server", d.addr(), "--merchant", "AcmeShopNL", "--missing")
	if code != 0 || !strings.Contains(out, "Backfill of AcmeShopNL, the missing batches, from") || !strings.Contains(out, "  fetched        1\n") {
		t.Errorf("--missing: exit %d\n%s%s", code, out, errOut)
	}
	if got := d.asked(); len(got) != 1 || got[4] != 1 {
		t.Errorf("--missing asked %v, want 4", got)
	}
	out, _, code = settle("fetch", "--data", data, "--dev-server", d.addr(), "--merchant", "AcmeShopNL", "--missing")
	if code != 0 || !strings.Contains(out, "Nothing to backfill: the ledger of AcmeShopNL lists no missing batch.") {
		t.Errorf("--missing with no gap left: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--merchant", "AcmeShopNL", "--batches", "1-3", d.srv.URL + "/reports/download/MerchantAccount/AcmeShopNL/x.csv"}, "pass report URLs, or --batches or --missing, not both"},
		{[]string{"--merchant", "AcmeShopNL", "--batches", "1-3", "--missing"}, "pass --batches LIST or --missing, not both"},
		{[]string{"--batches", "1-3"}, "name the merchant account with --merchant"},
		{[]string{"--merchant", "AcmeShopNL", "--batches", "3-1"}, "--batches: batch sequence"},
		{[]string{"--merchant", "AcmeShopNL", "--batches", "1-3", "--concurrency", "0"}, "--concurrency 0: want 1 or more"},
		{[]string{"--merchant", "AcmeShopNL", "--batches", "1-3", "--host", "ftp://example.com"}, "is not a report host's address"},
		{[]string{"--dry-run", d.srv.URL + "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_1.csv"}, "--dry-run goes with --batches or --missing"},
		{nil, "name at least one report URL, or pass --merchant M with --batches LIST or --missing"},
	} {
		_, errOut, code := settle(append([]string{"fetch", "--data", data, "--dev-server", d.addr()}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("settle fetch %v: exit %d %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// settle aws backfill reads the stack's ledger and queues a request per batch not committed to the
// webhook queue, for the fetch function; --dry-run queues nothing.
func TestAWSBackfill(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	var b bytes.Buffer
	if _, err := gen.Write(&b, gen.Config{Rows: 20, Seed: 2, Batch: 2, Merchant: "AcmeShopNL", SettlementDate: "2024-05-06"}); err != nil {
		t.Fatal(err)
	}
	if r := w.Arrive(t, "incoming/AcmeShopNL/settlement_detail_report_batch_2.csv", b.Bytes()); r.Status != local.Succeeded {
		t.Fatalf("batch 2: %s %s", r.Status, r.Error)
	}
	w.MirrorProcessed(t)
	queue := w.Stack[ops.OutWebhookQueueURL]

	out, errOut, code := cli(w, "aws", "backfill", "--merchant", "AcmeShopNL", "--batches", "1-4", "--dry-run")
	if code != 0 || !strings.Contains(out, "  to ask for     3\n  already there  1\n") || !strings.Contains(out, "To ask for: 1, 3-4.") || len(w.Fake.Messages(queue)) != 0 {
		t.Errorf("--dry-run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(w, "aws", "backfill", "--merchant", "AcmeShopNL", "--batches", "1-4", "--host", "https://"+fetch.LiveHost)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Backfill of AcmeShopNL, batches 1-4, from https://ca-live.adyen.com:\n\n  queued         3\n  already there  1\n  failed         0\n",
		"2 batches are above 2, the last committed batch: Adyen may not have generated them yet",
		"settle aws batches --merchant AcmeShopNL shows the committed batches, settle aws dlq list fetch the reports that could not be downloaded.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not found") {
		t.Errorf("a stack's backfill cannot know what is not found:\n%s", out)
	}
	msgs := w.Fake.Messages(queue)
	if len(msgs) != 3 {
		t.Fatalf("webhook queue: %v", msgs)
	}
	for _, m := range msgs {
		var r fetch.Request
		if err := json.Unmarshal([]byte(m), &r); err != nil || r.Check() != nil || !r.Live || r.MerchantAccount != "AcmeShopNL" || r.FileName == fetch.BatchFileName(2) {
			t.Errorf("message %s", m)
		}
	}
	if _, errOut, code := cli(w, "aws", "backfill", "--merchant", "AcmeShopNL"); code != 2 || !strings.Contains(errOut, "settle aws backfill: pass --batches LIST (such as 1-500) or --missing") {
		t.Errorf("no batches: %d %s", code, errOut)
	}
}
