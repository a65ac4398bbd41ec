package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

func batchesOf(items []ops.BackfillItem, outcome string) []int64 {
	var out []int64
	for _, it := range items {
		if it.Outcome == outcome {
			out = append(out, it.Batch)
		}
	}
	return out
}

// On a stack, a backfill reads the account's ledger through S3: the batches asked for by number less
// those committed, or with --missing the gaps past the grace period that are not acknowledged (a gap
// still within it is not missing yet); each request goes to the webhook queue as the fetch function
// reads it.
func TestBackfillOnAStack(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	for _, n := range []int64{1, 2, 5, 9} {
		if r := w.Arrive(t, fmt.Sprintf("incoming/b%d.csv", n), report(t, n, uint64(n))); r.Status != local.Succeeded {
			t.Fatalf("batch %d: %s %s", n, r.Status, r.Error)
		}
	}
	w.Clock.Advance(49 * time.Hour)
	if r := w.Arrive(t, "incoming/b12.csv", report(t, 12, 12)); r.Status != local.Succeeded { // 10-11: within the grace period
		t.Fatalf("batch 12: %s %s", r.Status, r.Error)
	}
	w.MirrorProcessed(t)
	o := connect(t, w)
	const merchant = "PaySettleShopEU"
	if _, err := o.Acknowledge(context.Background(), "adyen", merchant, ledger.Ack{First: 7, Last: 7, By: "ana", Reason: "Adyen skipped 7"}); err != nil {
		t.Fatal(err)
	}
	live := "https://" + fetch.LiveHost

	plan, err := o.PlanBackfill(context.Background(), ops.BackfillSpec{Merchant: merchant, Missing: true, Host: live})
	if err != nil {
		t.Fatal(err)
	}
	if got := batchesOf(plan.Items, ""); !slices.Equal(got, []int64{3, 4, 6, 8}) || len(plan.Items) != 4 || plan.LastCommitted != 12 {
		t.Errorf("--missing plans %v of %+v (last committed %d), want 3, 4, 6, 8", got, plan.Items, plan.LastCommitted)
	}

	plan, err = o.PlanBackfill(context.Background(), ops.BackfillSpec{Merchant: merchant, Batches: []int64{4, 5, 13}, Host: live})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Pending() != 2 || plan.Beyond() != 1 {
		t.Errorf("plan %+v: %d to ask for, %d beyond the last committed", plan.Items, plan.Pending(), plan.Beyond())
	}
	dry := o.Backfill(context.Background(), plan, o.WebhookQueue(), ops.BackfillOptions{DryRun: true})
	if dry.Planned != 2 || dry.AlreadyThere != 1 || len(w.Fake.Messages(w.Stack[ops.OutWebhookQueueURL])) != 0 {
		t.Errorf("dry run %+v sent %v", dry, w.Fake.Messages(w.Stack[ops.OutWebhookQueueURL]))
	}
	s := o.Backfill(context.Background(), plan, o.WebhookQueue(), ops.BackfillOptions{Concurrency: 2})
	if s.Batches != 3 || s.Queued != 2 || s.AlreadyThere != 1 || s.Failed+s.NotRun+s.Fetched+s.NotFound != 0 {
		t.Errorf("summary %+v", s)
	}
	if got := batchesOf(s.Items, ops.BackfillAlreadyThere); !slices.Equal(got, []int64{5}) {
		t.Errorf("already there: %v, want 5", got)
	}
	var sent []string
	for _, body := range w.Fake.Messages(w.Stack[ops.OutWebhookQueueURL]) {
		var r fetch.Request
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || r.Check() != nil || !r.Live {
			t.Errorf("message %s: %v %v", body, err, r.Check())
		}
		sent = append(sent, r.URL)
	}
	slices.Sort(sent)
	want := []string{
		live + "/reports/download/MerchantAccount/PaySettleShopEU/settlement_detail_report_batch_13.csv",
		live + "/reports/download/MerchantAccount/PaySettleShopEU/settlement_detail_report_batch_4.csv",
	}
	if !slices.Equal(sent, want) {
		t.Errorf("webhook queue %v, want %v", sent, want)
	}

	// A stack without the report intake refuses each send in one sentence.
	delete(w.Stack, ops.OutWebhookQueueURL)
	o = connect(t, w)
	s = o.Backfill(context.Background(), plan, o.WebhookQueue(), ops.BackfillOptions{})
	if s.Failed != 2 || !strings.Contains(s.Items[0].Error, "has no webhook queue") {
		t.Errorf("without a webhook queue: %+v", s)
	}
}

// emptyOperator is an operator over an empty processed bucket: nothing is committed.
func emptyOperator(t *testing.T) *ops.Operator {
	t.Helper()
	b, err := store.NewDir(local.ProcessedBucket, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &ops.Operator{
		Processed: func() (store.Bucket, error) { return b, nil },
		Policy:    func() (ledger.Policy, error) { return ledger.Policy{}, nil },
	}
}

// gate is a Downloader that holds each download until released, and records how many run at once.
type gate struct {
	release chan struct{}
	running atomic.Int32
	mu      sync.Mutex
	most    int32
	started []int64
	outcome func(batch int64) ops.BackfillResult
}

func (g *gate) Download(ctx context.Context, req fetch.Request) ops.BackfillResult {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	var batch int64
	fmt.Sscanf(req.FileName, "settlement_detail_report_batch_%d.csv", &batch)
	g.mu.Lock()
	g.most = max(g.most, n)
	g.started = append(g.started, batch)
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
		return ops.BackfillResult{Outcome: ops.BackfillFailed, Error: "download stopped: " + ctx.Err().Error()}
	}
	return g.outcome(batch)
}

// The batches are asked for at most Concurrency at once, each once; the progress reports each as it
// ends; the counts add up; when the context is cancelled, the downloads in progress are cut short and
// no other starts: all of them are "not run".
func TestBackfillRunsCappedAndStopsWhenInterrupted(t *testing.T) {
	o := emptyOperator(t)
	numbers := make([]int64, 30)
	for i := range numbers {
		numbers[i] = int64(i + 1)
	}
	plan, err := o.PlanBackfill(context.Background(), ops.BackfillSpec{Merchant: "AcmeShopNL", Batches: numbers, Host: "https://ca-test.adyen.com"})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{release: make(chan struct{}), outcome: func(b int64) ops.BackfillResult {
		switch {
		case b%10 == 0:
			return ops.BackfillResult{Outcome: ops.BackfillNotFound, Error: "404"}
		case b == 7:
			return ops.BackfillResult{Outcome: ops.BackfillFailed, Error: "ValidationError: 3 rows rejected"}
		case b == 8:
			return ops.BackfillResult{} // no outcome: a failure
		}
		return ops.BackfillResult{Outcome: ops.BackfillFetched, Execution: fmt.Sprint("exec-", b)}
	}}
	go func() {
		for range numbers {
			g.release <- struct{}{}
		}
	}()
	var ended []int64
	s := o.Backfill(context.Background(), plan, g, ops.BackfillOptions{Concurrency: 3, Progress: func(it ops.BackfillItem, done, total int) {
		ended = append(ended, it.Batch)
		if done != len(ended) || total != 30 {
			t.Errorf("progress %d of %d after %d batches", done, total, len(ended))
		}
	}})
	if g.most != 3 {
		t.Errorf("at most %d at once, want 3", g.most)
	}
	slices.Sort(ended)
	slices.Sort(g.started)
	if !slices.Equal(ended, numbers) || !slices.Equal(g.started, numbers) {
		t.Errorf("started %v, ended %v", g.started, ended)
	}
	if s.Batches != 30 || s.Fetched != 25 || s.NotFound != 3 || s.Failed != 2 || s.NotRun != 0 || s.Interrupted {
		t.Errorf("summary %+v", s)
	}
	if it := s.Items[7]; it.Batch != 8 || it.Outcome != ops.BackfillFailed || it.Error == "" {
		t.Errorf("batch 8: %+v", it)
	}
	if it := s.Items[6]; it.Error != "ValidationError: 3 rows rejected" {
		t.Errorf("batch 7: %+v", it)
	}

	// Interrupted once five batches have ended: the three in progress are cut short, nothing else starts.
	g = &gate{release: make(chan struct{}), outcome: func(int64) ops.BackfillResult { return ops.BackfillResult{Outcome: ops.BackfillFetched} }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range 5 {
			g.release <- struct{}{}
		}
	}()
	s = o.Backfill(ctx, plan, g, ops.BackfillOptions{Concurrency: 3, Progress: func(_ ops.BackfillItem, done, _ int) {
		if done == 5 {
			cancel()
		}
	}})
	if s.Fetched != 5 || s.NotRun != 25 || !s.Interrupted || len(g.started) > 8 {
		t.Errorf("interrupted: %+v, started %v", s, g.started)
	}
	for _, it := range s.Items {
		if it.Outcome == ops.BackfillNotRun && it.Error != "" && !strings.HasPrefix(it.Error, "interrupted: download stopped") {
			t.Errorf("batch %d: %q", it.Batch, it.Error)
		}
	}
}

// A plan refuses a host that is not a report host's address, and an account name that cannot be a key
// segment; nothing committed and no number given asks for nothing.
func TestBackfillPlanRefusals(t *testing.T) {
	o := emptyOperator(t)
	for _, c := range []struct {
		spec ops.BackfillSpec
		want string
	}{
		{ops.BackfillSpec{Merchant: "AcmeShopNL", Batches: []int64{1}, Host: "ca-test.adyen.com"}, "is not a report host's address"},
		{ops.BackfillSpec{Merchant: "Acme/ShopNL", Batches: []int64{1}, Host: "https://ca-test.adyen.com"}, "merchant account"},
	} {
		if _, err := o.PlanBackfill(context.Background(), c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
	plan, err := o.PlanBackfill(context.Background(), ops.BackfillSpec{Merchant: "AcmeShopNL", Missing: true, Host: "https://ca-test.adyen.com"})
	if err != nil || len(plan.Items) != 0 {
		t.Errorf("--missing without a ledger: %+v, %v", plan, err)
	}
	if s := o.Backfill(context.Background(), plan, &gate{}, ops.BackfillOptions{}); s.Batches != 0 || s.Interrupted {
		t.Errorf("empty backfill: %+v", s)
	}
}
