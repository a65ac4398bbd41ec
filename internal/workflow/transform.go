package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/settlement"
)

// Transform re-reads the validated file and writes its valid rows as settlement_lines Parquet to the
// staging key.
func (s *Steps) Transform(ctx context.Context, in StepInput) (res *TransformResult, err error) {
	ctx, x := s.observe(ctx, in, StepTransform)
	defer func() { x.end(ctx, err, "") }()
	return s.transform(ctx, in, x)
}

func (s *Steps) transform(ctx context.Context, in StepInput, x *invocation) (*TransformResult, error) {
	log := x.log
	if err := s.source(in); err != nil {
		return nil, err
	}
	if in.Validate == nil {
		return nil, &InvalidFileError{File: in.File.URL(), Reason: "transform needs the validate step's result"}
	}
	file := in.File.URL()
	rep, err := s.readReport(ctx, in.Validate.ReportKey)
	if err != nil {
		return nil, err
	}
	part := s.reportManifest(in, rep)
	part.Arrived = time.Time{} // the upload's, not the report's: the table's index records it
	footer, err := json.Marshal(part)
	if err != nil {
		return nil, &StorageError{Op: "encode the manifest for " + file, Err: err.Error()}
	}
	tctx, span := s.Tracer.Start(ctx, "transform")
	rc, err := s.openRaw(tctx, in, 0, -1)
	if err != nil {
		span.End(err)
		return nil, storageError("read "+file, file, err)
	}
	defer rc.Close()
	key := StagingKey(in.File.ETag, in.Execution)
	up, err := s.Processed.Create(tctx, key)
	if err != nil {
		span.End(err)
		return nil, infraError("create "+key, err)
	}
	defer up.Abort()
	if s.Stage == nil {
		span.End(nil)
		return nil, &StorageError{Op: "transform " + file, Err: "no StageFunc configured: the transform function must be wired with parquetfile.Stage"}
	}
	job := settlement.Job{ParallelOptions: settlement.ParallelOptions{Options: s.Conf.Read}, Key: in.File.Key, ETag: in.File.ETag, RowGroupRows: s.Conf.RowGroupRows,
		Metadata: map[string]string{FooterKey: string(footer)}}
	counts, err := s.Stage(rc, up, job)
	span.Annotate("rows", counts.Valid)
	span.End(err)
	if err != nil {
		return nil, readError("transform", file, err)
	}
	if counts != in.Validate.Counts {
		return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("the file read differently than at validation (%+v, then %+v)", in.Validate.Counts, counts)}
	}
	_, wspan := s.Tracer.Start(ctx, "write")
	obj, err := up.Commit()
	wspan.End(err)
	if err != nil {
		return nil, infraError("write "+key, err)
	}
	log.InfoContext(ctx, "staged", "rows", counts.Valid, "staging_key", key, "bytes", obj.Size)
	return &TransformResult{StagingKey: key, Rows: counts.Valid, Partitions: []Partition{{
		SettlementDate: in.Validate.SettlementDate, Rows: counts.Valid, Bytes: obj.Size,
		Key: PartitionKey(in.Validate.SettlementDate, in.Validate.MerchantAccount, in.Validate.BatchNumber)}}}, nil
}
