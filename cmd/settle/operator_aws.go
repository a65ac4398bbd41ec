package main

import (
	"context"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// awsOperator is the operator of a deployed stack: internal/ops, in the words of `settle aws`.
type awsOperator struct{ o *ops.Ops }

var _ operator = awsOperator{}

func (a awsOperator) where(st *ops.Status) string {
	return fmt.Sprintf("Stack %s in %s (%s)", st.Stack.Name, st.Stack.Region, st.Stack.Status)
}
func (awsOperator) command(verb string) string     { return "settle aws " + verb }
func (awsOperator) file(f workflow.FileRef) string { return f.URL() }
func (awsOperator) text(s string) string           { return s }
func (a awsOperator) output(key string) string {
	return "s3://" + a.o.Stack.Out(ops.OutProcessedBucket) + "/" + key
}
func (awsOperator) runs() bool { return false }

func (a awsOperator) Status(ctx context.Context, since time.Time) (*ops.Status, error) {
	return a.o.Status(ctx, since)
}

func (a awsOperator) Executions(ctx context.Context, status string, since time.Time, limit int) ([]ops.Execution, error) {
	return a.o.Executions(ctx, status, since, limit)
}

func (a awsOperator) Show(ctx context.Context, name string) (*ops.Detail, error) {
	return a.o.Show(ctx, name)
}

func (a awsOperator) Redrive(ctx context.Context, name string, dry, force bool) (action, error) {
	x, err := a.o.Redrive(ctx, name, dry, force)
	return action{Action: x}, err
}

func (a awsOperator) RedriveFailed(ctx context.Context, since time.Time, dry bool) ([]action, error) {
	list, err := a.o.RedriveFailed(ctx, since, dry)
	return actionsOf(list), err
}

func (a awsOperator) Reprocess(ctx context.Context, target string, o local.ReprocessOptions, dry bool) (action, error) {
	x, err := a.o.Reprocess(ctx, target, ops.ReprocessOptions{Replace: o.Replace, Policy: o.Policy}, dry)
	return action{Action: x}, err
}

func (a awsOperator) DLQList(ctx context.Context, queue string, max int) ([]ops.DLQMessage, error) {
	return a.o.DLQList(ctx, queue, max)
}

func (a awsOperator) DLQShow(ctx context.Context, id string) (ops.DLQMessage, error) {
	return a.o.DLQShow(ctx, id)
}

func (a awsOperator) DLQRedriveIngest(ctx context.Context, dry bool) (ops.MoveTask, error) {
	return a.o.DLQRedriveIngest(ctx, dry)
}

func (a awsOperator) DLQRedriveFailed(ctx context.Context, ids []string, dry bool) ([]action, error) {
	list, err := a.o.DLQRedriveFailed(ctx, ids, dry)
	return actionsOf(list), err
}

func (a awsOperator) Batches(ctx context.Context, merchant string) ([]ledger.Status, error) {
	return a.o.Batches(ctx, merchant)
}

func (a awsOperator) Acknowledge(ctx context.Context, provider, merchant string, ack ledger.Ack) (bool, error) {
	return a.o.Acknowledge(ctx, provider, merchant, ack)
}

func (a awsOperator) RebuildLedgers(ctx context.Context) (workflow.RebuildResult, error) {
	return a.o.RebuildLedgers(ctx)
}

func (a awsOperator) Verify(ctx context.Context, content workflow.ContentFunc) (*workflow.VerifyReport, error) {
	return a.o.Verify(ctx, content)
}
