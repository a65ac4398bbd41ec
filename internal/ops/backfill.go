package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// A backfill asks the report host for a merchant account's settlement details reports by batch number
// (a report's URL follows from the account and the number: fetch.BatchRequest), skipping the batches
// the ledger shows committed. Each remaining batch goes to a Downloader, a few at once: on a data folder
// the local intake downloads it and runs it through the pipeline; on a stack the request goes to the
// webhook queue, where the fetch function downloads it as it does Adyen's notifications. What finished
// stays finished when the backfill is interrupted, and a rerun skips what is committed by then.

// Outcomes of a backfill's batch.
const (
	BackfillFetched      = "fetched"       // downloaded and committed (a data folder)
	BackfillQueued       = "queued"        // sent to the webhook queue, for the fetch function (a stack)
	BackfillAlreadyThere = "already-there" // committed before: not asked for, or the download was content already committed
	BackfillNotFound     = "not-found"     // the report host has no such report (404): not generated, or no such batch
	BackfillFailed       = Failed          // the download or the pipeline failed (Error says why)
	BackfillNotRun       = "not-run"       // interrupted before it finished: a rerun asks for it
	BackfillPlanned      = "planned"       // a dry run's batch to ask for
)

// DefaultBackfillConcurrency is how many batches a backfill asks for at once by default;
// MaxBackfillBatches bounds the batches of one backfill (as gen.ParseSequence bounds a list).
const (
	DefaultBackfillConcurrency = 4
	MaxBackfillBatches         = 100_000
)

// BackfillResult is what a Downloader did with one batch's request.
type BackfillResult struct {
	Outcome string // BackfillFetched, BackfillQueued, BackfillAlreadyThere, BackfillNotFound or BackfillFailed
	Error   string // why, for a failure or a report not found
	// Execution is the execution that ran the report, when the Downloader ran it.
	Execution string
}

// Downloader gets one batch's report: it downloads the request and runs the report through the
// pipeline (a data folder), or hands it to what does (a stack's webhook queue). It is called from
// several goroutines at once, and with a context that an interruption cancels.
type Downloader interface {
	Download(ctx context.Context, req fetch.Request) BackfillResult
}

// BackfillSpec is what to ask for: batches by number, the ledger's missing batches, or both.
type BackfillSpec struct {
	Merchant string
	Batches  []int64
	// Missing adds the batches of the account's gaps that count as missing: past the grace period and
	// not acknowledged.
	Missing bool
	// Host is the report host's address, such as https://ca-test.adyen.com.
	Host string
}

// BackfillItem is one batch of a backfill.
type BackfillItem struct {
	Batch     int64  `json:"batch"`
	Key       string `json:"key"` // the raw bucket's key of its report
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
	Execution string `json:"execution,omitempty"`
	req       fetch.Request
}

// BackfillPlan is a backfill before it runs: every batch asked for, in number order, those the ledger
// shows committed already decided (BackfillAlreadyThere), the others to ask for.
type BackfillPlan struct {
	Merchant string
	Host     string
	Items    []BackfillItem
	// LastCommitted is the account's highest committed batch (0: none); batches beyond it may not be
	// generated yet.
	LastCommitted int64
}

// Pending counts the batches the plan asks for.
func (p *BackfillPlan) Pending() int {
	n := 0
	for _, it := range p.Items {
		if it.Outcome == "" {
			n++
		}
	}
	return n
}

// Beyond counts the batches the plan asks for above the last committed one.
func (p *BackfillPlan) Beyond() int {
	n := 0
	for _, it := range p.Items {
		if it.Outcome == "" && it.Batch > p.LastCommitted {
			n++
		}
	}
	return n
}

// BackfillOptions tune a run.
type BackfillOptions struct {
	// Concurrency is how many batches are asked for at once (0: DefaultBackfillConcurrency).
	Concurrency int
	// DryRun decides the plan's batches as BackfillPlanned and asks for nothing.
	DryRun bool
	// Progress, when set, is called as each batch asked for ends, one call at a time, with how many of
	// the total have ended.
	Progress func(it BackfillItem, done, total int)
}

// BackfillSummary is what a backfill did: every batch with its outcome, and the counts. The counts add
// up to Batches.
type BackfillSummary struct {
	Merchant     string         `json:"merchant_account"`
	Host         string         `json:"host"`
	Batches      int            `json:"batches"`
	Fetched      int            `json:"fetched"`
	Queued       int            `json:"queued"`
	AlreadyThere int            `json:"already_there"`
	NotFound     int            `json:"not_found"`
	Failed       int            `json:"failed"`
	NotRun       int            `json:"not_run"`
	Planned      int            `json:"planned"`
	Interrupted  bool           `json:"interrupted"`
	DryRun       bool           `json:"dry_run"`
	Items        []BackfillItem `json:"items"`
}

// PlanBackfill decides what a backfill asks for: the batches spec names, and with Missing the
// account's missing batches, less those the account's ledger shows committed.
func (o *Operator) PlanBackfill(ctx context.Context, spec BackfillSpec) (*BackfillPlan, error) {
	if _, err := fetch.BatchRequest(spec.Host, spec.Merchant, 1); err != nil {
		return nil, err
	}
	committed := map[int64]bool{}
	want := map[int64]bool{}
	if len(spec.Batches) > MaxBackfillBatches {
		return nil, fmt.Errorf("more than %d batches: backfill a part at a time", MaxBackfillBatches)
	}
	for _, n := range spec.Batches {
		want[n] = true
	}
	plan := &BackfillPlan{Merchant: spec.Merchant, Host: strings.TrimSuffix(spec.Host, "/")}
	st, l, err := o.account(ctx, spec.Merchant)
	if err != nil {
		return nil, err
	}
	if l != nil {
		for _, b := range l.Batches {
			committed[b.Number] = true
		}
		plan.LastCommitted = st.LastBatch
	}
	if spec.Missing && l != nil {
		for _, g := range st.Gaps {
			if !g.Missing || g.Acknowledged != nil {
				continue
			}
			if len(want)+int(g.Count()) > MaxBackfillBatches {
				return nil, fmt.Errorf("merchant account %s misses more than %d batches: backfill a part at a time with --batches", spec.Merchant, MaxBackfillBatches)
			}
			for n := g.First; n <= g.Last; n++ {
				want[n] = true
			}
		}
	}
	numbers := make([]int64, 0, len(want))
	for n := range want {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		req, err := fetch.BatchRequest(spec.Host, spec.Merchant, n)
		if err != nil {
			return nil, err
		}
		req.Speculative = true // a batch past the account's history answers 404: no dead letter for it
		it := BackfillItem{Batch: n, Key: req.Key(), req: req}
		if committed[n] {
			it.Outcome = BackfillAlreadyThere
		}
		plan.Items = append(plan.Items, it)
	}
	return plan, nil
}

// account is the merchant account's ledger and what it says now; a nil ledger when no batch of the
// account is committed.
func (o *Operator) account(ctx context.Context, merchant string) (ledger.Status, *ledger.Ledger, error) {
	p, err := o.Policy()
	if err != nil {
		return ledger.Status{}, nil, err
	}
	b, err := o.Processed()
	if err != nil {
		return ledger.Status{}, nil, err
	}
	accounts, err := workflow.LoadAccounts(ctx, b, merchant)
	if err != nil {
		return ledger.Status{}, nil, o.explain("read the batch ledgers in s3://"+b.Name()+"/"+workflow.LedgerPrefix, err)
	}
	for _, a := range accounts {
		if a.Ledger.Provider == settlement.ProviderAdyen {
			return ledger.Analyze(a.Ledger, a.Acks, p, o.clock()), a.Ledger, nil
		}
	}
	return ledger.Status{}, nil, nil
}

// Backfill asks d for each batch the plan asks for, at most Concurrency at once, and sums up what
// became of every batch of the plan. When ctx is cancelled no batch is started any more; a batch cut
// short is BackfillNotRun (what it had done stays: a rerun finds it committed, or finishes it), and so
// is each batch not started.
func (o *Operator) Backfill(ctx context.Context, plan *BackfillPlan, d Downloader, opt BackfillOptions) BackfillSummary {
	items := slices.Clone(plan.Items)
	var pending []int
	for i, it := range items {
		if it.Outcome == "" {
			pending = append(pending, i)
		}
	}
	switch {
	case opt.DryRun:
		for _, i := range pending {
			items[i].Outcome = BackfillPlanned
		}
	default:
		runBackfill(ctx, items, pending, d, opt)
	}
	s := BackfillSummary{Merchant: plan.Merchant, Host: plan.Host, Batches: len(items), DryRun: opt.DryRun, Items: items}
	for _, it := range items {
		switch it.Outcome {
		case BackfillFetched:
			s.Fetched++
		case BackfillQueued:
			s.Queued++
		case BackfillAlreadyThere:
			s.AlreadyThere++
		case BackfillNotFound:
			s.NotFound++
		case BackfillNotRun:
			s.NotRun++
		case BackfillPlanned:
			s.Planned++
		default:
			s.Failed++
		}
	}
	s.Interrupted = s.NotRun > 0
	return s
}

// runBackfill runs the pending items through d with a pool of workers.
func runBackfill(ctx context.Context, items []BackfillItem, pending []int, d Downloader, opt BackfillOptions) {
	workers := opt.Concurrency
	if workers <= 0 {
		workers = DefaultBackfillConcurrency
	}
	workers = min(workers, len(pending))
	for _, i := range pending {
		items[i].Outcome = BackfillNotRun // until it ends
	}
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					continue // interrupted: not started
				}
				r := d.Download(ctx, items[i].req)
				it := BackfillItem{Batch: items[i].Batch, Key: items[i].Key, Outcome: r.Outcome, Error: r.Error, Execution: r.Execution}
				if it.Outcome == "" {
					it.Outcome, it.Error = BackfillFailed, "the download reported no outcome"
				}
				if ctx.Err() != nil && it.Outcome != BackfillFetched && it.Outcome != BackfillQueued && it.Outcome != BackfillAlreadyThere {
					it.Outcome, it.Error = BackfillNotRun, strings.TrimSuffix("interrupted: "+it.Error, ": ")
				}
				mu.Lock()
				items[i] = it
				done++
				if opt.Progress != nil {
					opt.Progress(it, done, len(pending))
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range pending {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
}

// WebhookQueue is a stack's Downloader: each request goes to the webhook queue, whose messages the fetch
// function downloads as it does Adyen's notifications (at most its MaximumConcurrency at once) into the
// raw bucket, where the pipeline picks them up. Its outcome is BackfillQueued; the ledger (batches)
// shows the committed batches later, the fetch dead-letter queue the reports that could not be
// downloaded.
func (o *Operator) WebhookQueue() Downloader { return webhookQueue{o} }

type webhookQueue struct{ o *Operator }

func (q webhookQueue) Download(ctx context.Context, req fetch.Request) BackfillResult {
	body, err := json.Marshal(req)
	if err == nil {
		err = q.o.Queues.Send(ctx, QueueWebhook, body)
	}
	if err != nil {
		return BackfillResult{Outcome: BackfillFailed, Error: q.o.explain("send the request for "+req.Key()+" to the webhook queue", err).Error()}
	}
	return BackfillResult{Outcome: BackfillQueued}
}
