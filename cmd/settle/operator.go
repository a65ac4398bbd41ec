package main

import (
	"context"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// operator is what the operator commands (status, executions, show, redrive, reprocess, dlq, batches,
// ledger) need of a deployment. Two adapters implement it: localOperator over a data folder (the
// engine's execution history, the folder buckets, the DLQ files) and awsOperator over a deployed stack
// (internal/ops), so that `settle X` and `settle aws X` are one command with one output. The values are
// ops's, which both adapters fill.
type operator interface {
	words

	Status(ctx context.Context, since time.Time) (*ops.Status, error)
	// Executions lists executions with status ("" for all) started since (zero: all), newest first, at
	// most limit (0: all).
	Executions(ctx context.Context, status string, since time.Time, limit int) ([]ops.Execution, error)
	// Show is an execution with its history, the step that failed and, for a success, its manifest.
	Show(ctx context.Context, name string) (*ops.Detail, error)
	// Redrive restarts one failed execution (force: even a rejected file's, which re-enters its Fail
	// state); RedriveFailed every one since, except rejected files.
	Redrive(ctx context.Context, name string, dry, force bool) (action, error)
	RedriveFailed(ctx context.Context, since time.Time, dry bool) ([]action, error)
	// Reprocess runs a file (or an execution's file) again as a new execution with the options.
	Reprocess(ctx context.Context, target string, o local.ReprocessOptions, dry bool) (action, error)
	// The dead-letter queues: queue is "ingest", "failed" or "" for both.
	DLQList(ctx context.Context, queue string, max int) ([]ops.DLQMessage, error)
	DLQShow(ctx context.Context, id string) (ops.DLQMessage, error)
	DLQRedriveIngest(ctx context.Context, dry bool) (ops.MoveTask, error)
	DLQRedriveFailed(ctx context.Context, ids []string, dry bool) ([]action, error)
	// The batch ledgers.
	Batches(ctx context.Context, merchant string) ([]ledger.Status, error)
	Acknowledge(ctx context.Context, provider, merchant string, a ledger.Ack) (bool, error)
	RebuildLedgers(ctx context.Context) (workflow.RebuildResult, error)
	// Verify checks the table against its manifests (workflow.Verifier); content, when set, also reads
	// every committed object's footer.
	Verify(ctx context.Context, content workflow.ContentFunc) (*workflow.VerifyReport, error)
}

// words are how an operator's output names things, so that local output speaks of local things: the
// commands to run next, where a file is, and the pipeline's own messages (which name S3 addresses).
type words interface {
	// where is the header of status: "Data folder settle-data" or "Stack settle in eu-west-1 (…)".
	where(st *ops.Status) string
	// command is the command line of a verb: "settle show" or "settle aws show".
	command(verb string) string
	// file is where a file of the raw bucket is: a local path, or its s3:// address; output is where
	// an object of the processed bucket is.
	file(f workflow.FileRef) string
	output(key string) string
	// text is a message of the pipeline in these words (local paths for s3:// addresses, environment
	// variables for stack parameters).
	text(s string) string
	// runs says whether the operator runs what it starts to its end before answering (the local
	// pipeline), so that the results are known.
	runs() bool
}

// action is what a restart did for one file, with, when the operator ran it to its end, the result.
type action struct {
	ops.Action
	result *local.FileResult
}

func actionsOf(list []ops.Action) []action {
	out := make([]action, len(list))
	for i, a := range list {
		out[i] = action{Action: a}
	}
	return out
}
