package workflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paysettle/settle/internal/settlement"
)

// Validate reads the whole file, writes its rejected rows and its validation report, and fails with a
// ValidationError when the file breaks the policy.
func (s *Steps) Validate(ctx context.Context, in StepInput) (res *ValidateResult, err error) {
	ctx, x := s.observe(ctx, in, StepValidate)
	defer func() { x.end(ctx, err, "") }()
	return s.validate(ctx, in, x)
}

func (s *Steps) validate(ctx context.Context, in StepInput, x *invocation) (*ValidateResult, error) {
	if err := s.source(in); err != nil {
		return nil, err
	}
	file := in.File.URL()
	rejectsKey, reportKey := RejectsKey(in.Check, in.File.ETag), ReportKey(in.Check, in.File.ETag)
	vctx, span := s.Tracer.Start(ctx, "validate")
	rc, err := s.openRaw(vctx, in, 0, -1)
	if err != nil {
		span.End(err)
		return nil, storageError("read "+file, file, err)
	}
	defer rc.Close()
	up, err := s.Processed.Create(vctx, rejectsKey)
	if err != nil {
		span.End(err)
		return nil, infraError("create "+rejectsKey, err)
	}
	defer up.Abort()
	counted := &countingReader{r: rc}
	rep, err := settlement.ValidateReport(counted, s.Conf.Read, in.policy(s.Conf.Policy), up)
	span.Annotate("bytes", counted.n)
	if rep != nil {
		span.Annotate("rows", rep.Counts.DataRows)
		span.Annotate("rejected", rep.Counts.Rejected)
	}
	span.End(err)
	x.validated(ctx, in.Check, rep, counted.n)
	if err != nil {
		return nil, readError("validate", file, err)
	}
	x.batch(rep.MerchantAccount, rep.BatchNumber)
	log := x.log
	_, wspan := s.Tracer.Start(ctx, "write")
	defer func() { wspan.End(nil) }()
	res := &ValidateResult{MerchantAccount: rep.MerchantAccount, BatchNumber: rep.BatchNumber, SettlementDate: rep.SettlementDate,
		Counts: rep.Counts, Warnings: len(rep.Warnings), ReportKey: reportKey}
	if rep.Counts.Rejected > 0 {
		if _, err := up.Commit(); err != nil {
			return nil, infraError("write "+rejectsKey, err)
		}
		res.RejectsKey = rejectsKey
	} else if err := s.Processed.Delete(ctx, rejectsKey); err != nil { // a rerun after a corrected policy
		return nil, infraError("delete "+rejectsKey, err)
	}
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, &StorageError{Op: "encode " + reportKey, Err: err.Error()}
	}
	if _, err := s.Processed.Put(ctx, reportKey, append(body, '\n')); err != nil {
		return nil, infraError("write "+reportKey, err)
	}
	log.InfoContext(ctx, "validated", "rows", rep.Counts.DataRows, "rejected", rep.Counts.Rejected,
		"file_errors", len(rep.FileErrors), "warnings", len(rep.Warnings), "settlement_date", rep.SettlementDate)
	if !rep.OK() {
		return nil, &ValidationError{File: file, Rows: rep.Counts.DataRows, Rejected: rep.Counts.Rejected, MaxRejected: rep.Policy.MaxRejected,
			Problems: rep.Problems(), RejectsKey: res.RejectsKey, ReportKey: reportKey, Bucket: s.Processed.Name()}
	}
	if in.Check != nil && in.Check.MerchantAccount != "" && (in.Check.MerchantAccount != rep.MerchantAccount || in.Check.BatchNumber != rep.BatchNumber) {
		return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("the first rows name batch %s/%d but the file validates as %s/%d",
			in.Check.MerchantAccount, in.Check.BatchNumber, rep.MerchantAccount, rep.BatchNumber)}
	}
	if in.Replace && (in.Check == nil || in.Check.MerchantAccount == "") {
		// The check could not name the batch: the version this replace replaces is looked up now.
		found, err := s.committed(ctx, in, rep.MerchantAccount, rep.BatchNumber)
		if err != nil {
			return nil, err
		}
		res.ReplacesETag, res.ReplacesManifest = found.replaces, found.replacesManifest
	}
	return res, nil
}

// policy is the validation policy for in's file: the configured one, with the override its execution
// was started with (an operator's reprocess).
func (in StepInput) policy(configured settlement.Policy) settlement.Policy {
	if in.Input == nil {
		return configured
	}
	return in.Input.Policy.Apply(configured)
}
