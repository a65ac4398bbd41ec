package local

import (
	"context"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/workflow"
)

// CheckBatches runs the scheduled batches function once, as EventBridge Scheduler does hourly in the
// cloud: metrics to the Env's metrics, alerts and resolutions to notifications.jsonl.
func (e *Env) CheckBatches(ctx context.Context) (*workflow.BatchCheckResult, error) {
	return e.BatchCheck.Handle(ctx, workflow.BatchCheckInput{ScheduledTime: e.clock.Now().UTC().Format("2006-01-02T15:04:05Z")})
}

// CheckBatchesRepairing runs the batch check with its gap repair (workflow.Repair) on the intake: the
// fetches the check queues for the batches gaps lack are downloaded from host and run through the
// pipeline, in order, before it returns, as the fetch function would take them from its queue. off
// lists the merchant accounts whose gaps only alert.
func (e *Env) CheckBatchesRepairing(ctx context.Context, in *Intake, host string, off []string) (*workflow.BatchCheckResult, []FileResult, error) {
	check := *e.BatchCheck
	check.Repair = &workflow.Repair{Queue: in.queue, Host: host, Off: off}
	res, err := check.Handle(ctx, workflow.BatchCheckInput{ScheduledTime: e.clock.Now().UTC().Format("2006-01-02T15:04:05Z")})
	var results []FileResult
	for _, body := range in.queue.drain() {
		results = append(results, in.fetchMessage(ctx, body))
	}
	return res, results, err
}

// GapWarning is the line a run ends with when the batches its files committed leave a gap in their
// merchant account's sequence ("" when none do).
func (e *Env) GapWarning(ctx context.Context, results []FileResult) (string, error) {
	etags := map[string]bool{}
	for _, r := range results {
		if r.Status == Succeeded && r.ETag != "" {
			etags[r.ETag] = true
		}
	}
	if len(etags) == 0 {
		return "", nil
	}
	accounts, err := workflow.LoadAccounts(ctx, e.Processed, "")
	if err != nil {
		return "", err
	}
	processed := map[string][]int64{}
	var sts []ledger.Status
	now := e.clock.Now()
	for _, a := range accounts {
		st := ledger.Analyze(a.Ledger, a.Acks, e.BatchCheck.Policy, now)
		for _, b := range a.Ledger.Batches {
			if etags[b.Source.ETag] {
				processed[st.Name()] = append(processed[st.Name()], b.Number)
			}
		}
		if len(processed[st.Name()]) > 0 {
			sts = append(sts, st)
		}
	}
	return ledger.GapWarning(sts, processed), nil
}
