package main

import (
	"context"
	"time"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// operator is what the operator commands (status, executions, show, redrive, reprocess, dlq, batches,
// ledger, verify) act through: ops.Operator, which makes every decision once, on a data folder
// (local.Env.Operator) or a deployed stack (ops.Connect), in that target's words, so that `settle X` and
// `settle aws X` are one command with one output.
type operator struct {
	*ops.Operator
	words
	// stack is the deployed stack's operator, for what only a stack has (replay, the fetch DLQ's
	// redrive); nil for a data folder.
	stack *ops.Ops
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
	// text is a message of the pipeline in these words (local paths for s3:// addresses).
	text(s string) string
	// settings is how these words name a setting: with the stack's parameter, or the environment
	// variable alone.
	settings() workflow.SettingNames
	// runs says whether the operator runs what it starts to its end before answering (the local
	// pipeline), so that the results are known; result is then the end of an execution it ran.
	runs() bool
	result(execution string) *local.FileResult
}

// action is what a restart did for one file, with, when the operator ran it to its end, the result.
type action struct {
	ops.Action
	result *local.FileResult
}

// ran adds to an action the result of the execution it ran, when the operator runs executions to their
// end.
func (op operator) ran(a ops.Action, dry bool) action {
	out := action{Action: a}
	if dry || !op.runs() || a.Target == "" {
		return out
	}
	switch a.Outcome {
	case string(workflow.Redriven), string(workflow.Restarted), string(workflow.Started):
		out.result = op.result(a.Target)
	}
	return out
}

func (op operator) ranAll(list []ops.Action, dry bool) []action {
	out := make([]action, len(list))
	for i, a := range list {
		out[i] = op.ran(a, dry)
	}
	return out
}

// Redrive restarts one failed execution (force: even a rejected file's, which re-enters its Fail state).
func (op operator) Redrive(ctx context.Context, name string, dry, force bool) (action, error) {
	a, err := op.Operator.Redrive(ctx, name, dry, force)
	return op.ran(a, dry), err
}

// RedriveFailed restarts every execution that failed since, except rejected files.
func (op operator) RedriveFailed(ctx context.Context, since time.Time, dry bool) ([]action, error) {
	list, err := op.Operator.RedriveFailed(ctx, since, dry)
	return op.ranAll(list, dry), err
}

// Reprocess runs a file (or an execution's file) again as a new execution with the options.
func (op operator) Reprocess(ctx context.Context, target string, o ops.ReprocessOptions, dry bool) (action, error) {
	a, err := op.Operator.Reprocess(ctx, target, o, dry)
	return op.ran(a, dry), err
}

// DLQRedriveFailed restarts the files of the failed-files DLQ's messages (only ids, when given).
func (op operator) DLQRedriveFailed(ctx context.Context, ids []string, dry bool) ([]action, error) {
	list, err := op.Operator.DLQRedriveFailed(ctx, ids, dry)
	return op.ranAll(list, dry), err
}
