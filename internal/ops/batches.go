package ops

import (
	"context"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/workflow"
)

// Outputs of the stack's batch ledger section.
const (
	OutBatchGraceHours     = "BatchGraceHours"
	OutBatchCadences       = "BatchCadences"
	OutMissingBatchesQuery = "MissingBatchesQuery"
)

// Batches reads the batch ledgers: per merchant account (or only merchant) its batches, gaps,
// cadence and lateness now, with what to do.
func (o *Operator) Batches(ctx context.Context, merchant string) ([]ledger.Status, error) {
	p, err := o.Policy()
	if err != nil {
		return nil, err
	}
	b, err := o.Processed()
	if err != nil {
		return nil, err
	}
	sts, err := workflow.Statuses(ctx, b, p, merchant, o.clock())
	if err != nil {
		return nil, o.explain("read the batch ledgers in s3://"+b.Name()+"/"+workflow.LedgerPrefix, err)
	}
	return sts, nil
}

// Acknowledge records in the processed bucket that batches of a merchant account will never
// come, or that it is closed; the check then stops alerting about them. It reports whether the
// acknowledgement was new.
func (o *Operator) Acknowledge(ctx context.Context, provider, merchant string, ack ledger.Ack) (bool, error) {
	if ack.At.IsZero() {
		ack.At = o.clock()
	}
	if err := ack.Check(); err != nil {
		return false, err
	}
	b, err := o.Processed()
	if err != nil {
		return false, err
	}
	added, err := workflow.Acknowledge(ctx, b, provider, merchant, ack)
	if err != nil {
		return false, o.explain("acknowledge in s3://"+b.Name()+"/"+workflow.AcksKey(provider, merchant), err)
	}
	return added, nil
}

// RebuildLedgers writes every ledger in the processed bucket again from the manifests: after a
// manifest was restored by hand (an undone replace), or a commit whose ledger update never completed.
func (o *Operator) RebuildLedgers(ctx context.Context) (workflow.RebuildResult, error) {
	b, err := o.Processed()
	if err != nil {
		return workflow.RebuildResult{}, err
	}
	res, err := workflow.RebuildLedgers(ctx, b)
	if err != nil {
		return res, o.explain("rebuild the batch ledgers in s3://"+b.Name()+"/"+workflow.LedgerPrefix, err)
	}
	return res, nil
}

// Verify checks the table against its manifests (workflow.Verifier); content, when set, also
// reads every committed object's footer.
func (o *Operator) Verify(ctx context.Context, content workflow.ContentFunc) (*workflow.VerifyReport, error) {
	b, err := o.Processed()
	if err != nil {
		return nil, err
	}
	v := &workflow.Verifier{Processed: b, Now: o.clock, Content: content}
	if o.Table != nil {
		v.Table = o.Table(b)
	}
	rep, err := v.Verify(ctx)
	if err != nil {
		return nil, o.explain("verify s3://"+b.Name()+"/"+workflow.LinesPrefix, err)
	}
	return rep, nil
}
