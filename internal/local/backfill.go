package local

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ops"
)

// Download is the data folder's Downloader of a backfill (ops.Downloader): the fetch handler downloads
// the request into the raw bucket, as for `settle fetch URL` (with its retries of 5xx answers, and its
// dead letters in fetch-dlq/), and the stored report goes through the pipeline to its end.
//
// A report once stored runs to its end even when ctx is cancelled meanwhile (an interrupted backfill):
// an execution cut short could leave its batch recorded in the ledger with its write claim still held,
// and a rerun, which skips what the ledger shows committed, would not finish it. Cancelling stops a
// download in progress, and its retries.
//
// Several downloads run at once: the engine, the buckets, the ledger's conditional updates and the
// dead-letter files are safe for concurrent executions, as the starter's concurrent deliveries are in
// the cloud.
func (in *Intake) Download(ctx context.Context, req fetch.Request) ops.BackfillResult {
	var out fetch.Outcome
	h := *in.handler
	h.OnResult = func(o fetch.Outcome) { out = o }
	body, _ := json.Marshal(req)
	n := messages.Add(1)
	_, _ = h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprintf("local-report-%d", n), Body: string(body), EventSource: "aws:sqs"}}})
	switch {
	case out.Err != nil && out.Err.Reason == fetch.ReasonNotFound:
		return ops.BackfillResult{Outcome: ops.BackfillNotFound, Error: out.Err.Error()}
	case out.Err != nil && out.DeadLettered:
		return ops.BackfillResult{Outcome: ops.BackfillFailed, Error: fmt.Sprintf("%s (in %s/): %s", out.Err.Error(), FetchDLQDir, out.Err.Action())}
	case out.Err != nil:
		return ops.BackfillResult{Outcome: ops.BackfillFailed, Error: "not fetched: " + out.Err.Error()}
	}
	r := in.env.Deliver(context.WithoutCancel(ctx), out.Result.Object)
	res := ops.BackfillResult{Execution: r.Execution, Error: r.Error}
	switch {
	case r.Status == Succeeded:
		res.Outcome = ops.BackfillFetched
	case r.Status == Duplicate:
		res.Outcome = ops.BackfillAlreadyThere
	case r.RejectedBefore:
		res.Outcome = ops.BackfillFailed
		res.Error = "rejected by an earlier execution, which a delivery does not run again: " + r.Error
	default:
		res.Outcome = ops.BackfillFailed
		if res.Error == "" {
			res.Error = r.Status
		}
	}
	return res
}
