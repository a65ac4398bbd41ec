package workflow

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/states"
)

// The steps, as the state machine names them and as the StepDuration metric's Step dimension reports them.
const (
	StepCheck     = "Check"
	StepValidate  = "Validate"
	StepTransform = "Transform"
	StepWrite     = "Write"
)

// invocation observes one step invocation: its logger (with the file's and, once known, the batch's
// fields), its trace span, and its metrics.
type invocation struct {
	s     *Steps
	step  string
	in    StepInput
	log   *slog.Logger
	span  *obs.Span
	start time.Time
}

// observe starts observing a step: a span named after the step with the file's annotations, and a
// logger with the file's fields. The caller defers end with the step's error.
func (s *Steps) observe(ctx context.Context, in StepInput, step string) (context.Context, *invocation) {
	x := &invocation{s: s, step: step, in: in, start: time.Now()}
	x.log = s.logger(in, strings.ToLower(step))
	ctx, x.span = s.Tracer.Start(ctx, step)
	x.span.Annotate("execution", in.Execution)
	x.span.Annotate("etag", in.File.ETag)
	if merchant, batch := in.batch(); merchant != "" {
		x.span.Annotate("batch", batch)
	}
	return ctx, x
}

// batch adds the batch to the invocation's logger and span once a step learns it.
func (x *invocation) batch(merchant string, batch int64) {
	if m, _ := x.in.batch(); m != "" || merchant == "" {
		return
	}
	x.log = x.log.With(obs.KeyMerchant, merchant, obs.KeyBatch, batch)
	x.span.Annotate("batch", batch)
}

// end records the step's duration and, for a data error, a failed file; it logs the failure with the
// error's type and counts but never its message, which can quote a rejected row's cells.
func (x *invocation) end(ctx context.Context, err error, outcome string) {
	ms := float64(time.Since(x.start).Microseconds()) / 1000
	x.s.Metrics.Entry().Dimensions([]string{obs.DimStep}).Dimension(obs.DimStep, x.step).
		Put(obs.StepDuration, ms, obs.Milliseconds).
		Property(obs.KeyExecution, x.in.Execution).Property(obs.KeyETag, x.in.File.ETag).Emit(ctx)
	x.span.End(err)
	if err == nil {
		if outcome != "" {
			x.log.InfoContext(ctx, "step done", "outcome", outcome, "duration_ms", ms)
		}
		return
	}
	name, attrs, data := describeError(err)
	args := append([]any{"error_type", name, "duration_ms", ms}, attrs...)
	if !data {
		x.log.WarnContext(ctx, "step failed; Step Functions retries or fails the execution at this step", args...)
		return
	}
	x.s.Metrics.Entry().Dimensions([]string{}, []string{obs.DimErrorName}).Dimension(obs.DimErrorName, name).
		Put(obs.FilesFailed, 1, obs.Count).
		Property(obs.KeyStep, x.step).Property(obs.KeyExecution, x.in.Execution).Property(obs.KeyETag, x.in.File.ETag).Emit(ctx)
	x.log.ErrorContext(ctx, "file rejected; it goes to the failed-files queue and the alert topic", args...)
}

// validated records what the validate step read: rows rejected, bytes read and the file's age.
func (x *invocation) validated(ctx context.Context, check *CheckResult, rep *settlement.Report, bytes int64) {
	e := x.s.Metrics.Entry().Put(obs.BytesProcessed, float64(bytes), obs.Bytes)
	if rep != nil {
		e.Put(obs.RowsRejected, float64(rep.Counts.Rejected), obs.Count)
		if age, ok := fileAge(check, rep.SettlementDate); ok {
			e.Put(obs.FileAge, age.Seconds(), obs.Seconds)
			e.Property("settlement_date", rep.SettlementDate)
		}
	}
	e.Property(obs.KeyExecution, x.in.Execution).Property(obs.KeyETag, x.in.File.ETag).Emit(ctx)
}

// committed records a committed batch.
func (x *invocation) committed(ctx context.Context, res *WriteResult) {
	x.s.Metrics.Entry().Put(obs.FilesSucceeded, 1, obs.Count).Put(obs.RowsWritten, float64(res.RowsWritten), obs.Count).
		Property(obs.KeyExecution, x.in.Execution).Property(obs.KeyETag, x.in.File.ETag).Emit(ctx)
}

// fileAge is how long after the start (00:00 UTC) of its settlement date the file arrived: T+N.
func fileAge(check *CheckResult, settlementDate string) (time.Duration, bool) {
	if check == nil || check.Arrived.IsZero() || settlementDate == "" {
		return 0, false
	}
	day, err := time.Parse(time.DateOnly, settlementDate)
	if err != nil {
		return 0, false
	}
	return check.Arrived.Sub(day), true
}

// describeError names a step's error as Step Functions will, with the fields worth logging, and tells
// whether it is a data error (caught by the definition: the file is rejected).
func describeError(err error) (name string, attrs []any, data bool) {
	var (
		ife *InvalidFileError
		ve  *ValidationError
		ce  *ConflictError
		te  *TransientError
		se  *StorageError
	)
	switch {
	case errors.As(err, &ve):
		return states.ErrorName(ve), []any{"rows", ve.Rows, "rejected", ve.Rejected, "max_rejected", ve.MaxRejected,
			"problems", len(ve.Problems), "rejects_key", ve.RejectsKey, "report_key", ve.ReportKey}, true
	case errors.As(err, &ife):
		// Reasons are the pipeline's own sentences about the file's shape, never cell values.
		return states.ErrorName(ife), []any{"reason", ife.Reason}, true
	case errors.As(err, &ce):
		return states.ErrorName(ce), []any{"committed_file", ce.CommittedFile, "committed_etag", ce.CommittedETag}, true
	case errors.As(err, &te):
		return states.ErrorName(te), []any{"op", te.Op, "error", te.Err}, false
	case errors.As(err, &se):
		return states.ErrorName(se), []any{"op", se.Op, "error", se.Err}, false
	default:
		return states.ErrorName(err), []any{"error", err.Error()}, false
	}
}

func checkOutcome(res *CheckResult) string {
	if res != nil && res.AlreadyProcessed {
		return "already processed: " + res.Reason
	}
	return ""
}

// batch is the merchant account and batch number the input knows of, from validate or else check.
func (in StepInput) batch() (string, int64) {
	if in.Validate != nil && in.Validate.MerchantAccount != "" {
		return in.Validate.MerchantAccount, in.Validate.BatchNumber
	}
	if in.Check != nil && in.Check.MerchantAccount != "" {
		return in.Check.MerchantAccount, in.Check.BatchNumber
	}
	return "", 0
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
