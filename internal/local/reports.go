package local

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/webhook"
)

// FetchDLQDir is the data folder's stand-in for the fetch dead-letter queue: one JSON file per report
// that could not be downloaded.
const FetchDLQDir = "fetch-dlq"

// IntakeOptions configure the local report intake.
type IntakeOptions struct {
	Secret      webhook.Secret    // the webhook's credentials and HMAC key, as in its Secrets Manager secret
	Policy      fetch.Policy      // where reports may come from
	Pattern     string            // the reports to fetch; empty: the default
	Credentials fetch.Credentials // the report user's; nil: none
	TLS         *tls.Config       // nil: the system's
	Clock       fetch.Clock       // nil: the wall clock
	Metrics     *obs.Metrics
	Log         *slog.Logger // nil: the data folder's logger
}

// Intake is the report intake run locally: the receiver and the fetch handler the webhook and fetch
// functions run, with the webhook queue in memory and the fetch dead-letter queue as files; each report
// stored in the raw bucket is then delivered to the starter as S3's event would be.
type Intake struct {
	env      *Env
	receiver *webhook.Receiver
	handler  *fetch.Handler
	queue    *memoryQueue
}

// NewIntake sets up the report intake on the data folder.
func (e *Env) NewIntake(o IntakeOptions) *Intake {
	q := &memoryQueue{}
	in := &Intake{env: e, queue: q}
	log := o.Log
	if log == nil {
		log = e.Steps.Log
	}
	in.receiver = &webhook.Receiver{
		Secret:  func(context.Context) (webhook.Secret, error) { return o.Secret, nil },
		Queue:   q,
		Policy:  o.Policy,
		Pattern: o.Pattern,
		Log:     log,
		Metrics: o.Metrics,
	}
	in.handler = &fetch.Handler{
		Fetcher: &fetch.Fetcher{Raw: e.Raw, Policy: o.Policy, Credentials: o.Credentials, MaxBytes: e.Steps.Conf.MaxFileBytes,
			TLS: o.TLS, Clock: o.Clock, Log: log},
		DLQ:     dirQueue{dir: filepath.Join(e.Dir, FetchDLQDir)},
		Log:     log,
		Metrics: o.Metrics,
	}
	return in
}

// Receive hands a webhook request to the receiver, then fetches every report it queued and runs it
// through the pipeline, in order.
func (in *Intake) Receive(ctx context.Context, req webhook.Request) (webhook.Response, []FileResult, error) {
	resp, err := in.receiver.Receive(ctx, req)
	if err != nil {
		return resp, nil, err
	}
	var results []FileResult
	for _, body := range in.queue.drain() {
		results = append(results, in.fetchMessage(ctx, body))
	}
	return resp, results, nil
}

// Fetch downloads one report into the raw bucket and runs it through the pipeline: `settle fetch URL`.
func (in *Intake) Fetch(ctx context.Context, req fetch.Request) FileResult {
	body, _ := json.Marshal(req)
	return in.fetchMessage(ctx, string(body))
}

// fetchMessage runs the fetch handler on one queue message, as the queue would deliver it, and delivers
// the stored report to the starter.
func (in *Intake) fetchMessage(ctx context.Context, body string) FileResult {
	var out fetch.Outcome
	h := *in.handler
	h.OnResult = func(o fetch.Outcome) { out = o }
	n := messages.Add(1)
	_, _ = h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprintf("local-report-%d", n), Body: body, EventSource: "aws:sqs"}}})
	file := out.Request.Key()
	switch {
	case out.Err == nil:
		r := in.env.Deliver(ctx, out.Result.Object)
		r.File = file
		return r
	case out.NotYet:
		return FileResult{File: file, Status: Skipped, Error: "not generated yet (the report host answered 404)"}
	case out.DeadLettered:
		return FileResult{File: file, Status: Failed, Error: fmt.Sprintf("%s (in %s/): %s", out.Err.Error(), FetchDLQDir, out.Err.Action())}
	default:
		return FileResult{File: file, Status: Failed, Error: "not fetched, the queue would deliver it again: " + out.Err.Error()}
	}
}

// memoryQueue is the webhook queue: what the receiver sends, until the intake drains it.
type memoryQueue struct {
	mu   sync.Mutex
	msgs []string
}

func (q *memoryQueue) Send(_ context.Context, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, string(body))
	return nil
}

func (q *memoryQueue) drain() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.msgs
	q.msgs = nil
	return out
}
