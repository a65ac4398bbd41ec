package ops

import (
	"context"
	"fmt"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/workflow"
)

// Outputs of the stack's batch ledger section.
const (
	OutBatchGraceHours     = "BatchGraceHours"
	OutBatchCadences       = "BatchCadences"
	OutMissingBatchesQuery = "MissingBatchesQuery"
)

// BatchPolicy is the batch policy the stack's check runs with (its BatchGraceHours and BatchCadences
// outputs; the defaults for a stack without them).
func (o *Ops) BatchPolicy() (ledger.Policy, error) {
	env := map[string]string{ledger.EnvGraceHours: o.Stack.Out(OutBatchGraceHours), ledger.EnvCadences: o.Stack.Out(OutBatchCadences)}
	p, err := ledger.PolicyFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return ledger.Policy{}, fmt.Errorf("stack %s: its batch policy outputs are unreadable: %v", o.Stack.Name, err)
	}
	p.AckCommand = cloud.AckCommand
	return p, nil
}

// processed is the stack's processed bucket, where the ledgers are.
func (o *Ops) processed() (store.Bucket, error) {
	name := o.Stack.Out(OutProcessedBucket)
	if name == "" {
		return nil, fmt.Errorf("stack %s has no %s output: deploy the current template.yaml", o.Stack.Name, OutProcessedBucket)
	}
	return s3store.New(o.S3, name), nil
}

// Batches reads the stack's batch ledgers: per merchant account (or only merchant) its batches, gaps,
// cadence and lateness now, with what to do.
func (o *Ops) Batches(ctx context.Context, merchant string) ([]ledger.Status, error) {
	p, err := o.BatchPolicy()
	if err != nil {
		return nil, err
	}
	b, err := o.processed()
	if err != nil {
		return nil, err
	}
	sts, err := workflow.Statuses(ctx, b, p, merchant, o.clock())
	if err != nil {
		return nil, explain("read the batch ledgers in s3://"+b.Name()+"/"+workflow.LedgerPrefix, o.Stack.Region, err)
	}
	return sts, nil
}

// Acknowledge records in the stack's processed bucket that batches of a merchant account will never
// come, or that it is closed; the check then stops alerting about them. It reports whether the
// acknowledgement was new.
func (o *Ops) Acknowledge(ctx context.Context, provider, merchant string, ack ledger.Ack) (bool, error) {
	if ack.At.IsZero() {
		ack.At = o.clock()
	}
	if err := ack.Check(); err != nil {
		return false, err
	}
	b, err := o.processed()
	if err != nil {
		return false, err
	}
	added, err := workflow.Acknowledge(ctx, b, provider, merchant, ack)
	if err != nil {
		return false, explain("acknowledge in s3://"+b.Name()+"/"+workflow.AcksKey(provider, merchant), o.Stack.Region, err)
	}
	return added, nil
}

// RebuildLedgers writes every ledger in the stack's processed bucket again from the manifests: after a
// manifest was restored by hand (an undone replace), or a commit whose ledger update never completed.
func (o *Ops) RebuildLedgers(ctx context.Context) (workflow.RebuildResult, error) {
	b, err := o.processed()
	if err != nil {
		return workflow.RebuildResult{}, err
	}
	res, err := workflow.RebuildLedgers(ctx, b)
	if err != nil {
		return res, explain("rebuild the batch ledgers in s3://"+b.Name()+"/"+workflow.LedgerPrefix, o.Stack.Region, err)
	}
	return res, nil
}

// Verify checks the stack's table against its manifests (workflow.Verifier); content, when set, also
// reads every committed object's footer.
func (o *Ops) Verify(ctx context.Context, content workflow.ContentFunc) (*workflow.VerifyReport, error) {
	b, err := o.processed()
	if err != nil {
		return nil, err
	}
	rep, err := (&workflow.Verifier{Processed: b, Now: o.now, Content: content}).Verify(ctx)
	if err != nil {
		return nil, explain("verify s3://"+b.Name()+"/"+workflow.LinesPrefix, o.Stack.Region, err)
	}
	return rep, nil
}
