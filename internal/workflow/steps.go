package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// SniffBytes is how much of a file the check step reads: enough for the header and the first rows.
const SniffBytes = 64 << 10

// Steps are the handlers of the check, validate, transform and write functions.
//
// Why the work is split this way: Check touches only metadata and the first bytes, so duplicates,
// conflicts and files that are not reports stop before anything is read in full. Validate reads the whole
// file once and judges it — every row rule and every file rule — before anything is built, so a rejected
// file costs one read and leaves only its rejects and report. Transform re-reads the accepted file and
// encodes its rows as the settlement_lines Parquet file, under a staging key, so that the expensive part
// is retried on its own. Write publishes the staged file under the key derived from the batch (a
// server-side copy), after checking that no other file committed the batch meanwhile, and writes the
// manifest last, which is the commit: a crash anywhere before leaves a state that a rerun of the same
// step overwrites.
type Steps struct {
	Raw       store.Bucket
	Processed store.Bucket
	Conf      Config
	Log       *slog.Logger
	// Stage does the transform step's heavy work. It is injected so that only the transform function
	// links Arrow and Parquet (parquetfile.Stage, wired by functions/transform and local).
	Stage StageFunc
	// Metrics receives the steps' metrics (nil: none) and Tracer their trace spans (zero: off); see
	// observe.go.
	Metrics *obs.Metrics
	Tracer  obs.Tracer
	// Now is the clock claims are stamped with (nil: time.Now).
	Now func() time.Time
}

// StageFunc reads a validated report and writes its valid rows to out as one settlement_lines Parquet
// file, returning the reader's counts (parquetfile.Stage).
type StageFunc func(report io.Reader, out io.Writer, job settlement.Job) (settlement.Counts, error)

func (s *Steps) logger(in StepInput, step string) *slog.Logger {
	l := s.Log
	if l == nil {
		l = slog.Default()
	}
	l = l.With(obs.KeyExecution, in.Execution, obs.KeyStep, step, obs.KeyBucket, in.File.Bucket, obs.KeyKey, in.File.Key, obs.KeyETag, in.File.ETag)
	if merchant, batch := in.batch(); merchant != "" {
		l = l.With(obs.KeyMerchant, merchant, obs.KeyBatch, batch)
	}
	return l
}

func (s *Steps) source(in StepInput) error {
	if in.File.Bucket != s.Raw.Name() {
		return &InvalidFileError{File: in.File.URL(), Reason: fmt.Sprintf("not in the raw bucket %q", s.Raw.Name())}
	}
	if in.File.Key == "" || in.File.ETag == "" {
		return &InvalidFileError{File: in.File.URL(), Reason: "the input names no key or etag"}
	}
	return nil
}

// Check heads the object, enforces the size limit, sniffs the format from its first bytes and looks up
// the manifest of its batch: the same content already committed is AlreadyProcessed; different content
// committed for the same batch is a ConflictError unless the input asks to replace it.
func (s *Steps) Check(ctx context.Context, in StepInput) (res *CheckResult, err error) {
	ctx, x := s.observe(ctx, in, StepCheck)
	defer func() { x.end(ctx, err, checkOutcome(res)) }()
	return s.check(ctx, in, x)
}

func (s *Steps) check(ctx context.Context, in StepInput, x *invocation) (*CheckResult, error) {
	log := x.log
	if err := s.source(in); err != nil {
		return nil, err
	}
	file := in.File.URL()
	rctx, read := s.Tracer.Start(ctx, "read")
	obj, err := s.Raw.Head(rctx, in.File.Key)
	if err != nil {
		read.End(err)
		return nil, storageError("head "+file, file, err)
	}
	if store.UnquoteETag(obj.ETag) != in.File.ETag {
		read.End(nil)
		log.InfoContext(ctx, "object superseded", "current_etag", store.UnquoteETag(obj.ETag))
		return &CheckResult{AlreadyProcessed: true, Reason: "superseded: the object was overwritten; the new version has its own execution", Size: obj.Size, Arrived: obj.Modified}, nil
	}
	if obj.Size == 0 {
		read.End(nil)
		return nil, &InvalidFileError{File: file, Reason: "the file is empty (0 bytes)"}
	}
	if obj.Size > s.Conf.maxFileBytes() {
		read.End(nil)
		return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("the file is %d bytes, over the limit of %d (MaxFileBytes); ask the provider for smaller batches or raise the limit", obj.Size, s.Conf.maxFileBytes())}
	}
	head, err := s.sniff(rctx, in.File)
	read.Annotate("bytes", len(head))
	read.End(err)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Format: "adyen-settlement-details", Size: obj.Size, Arrived: obj.Modified}
	_, parse := s.Tracer.Start(ctx, "parse")
	defer func() { parse.End(nil) }()
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, &InvalidFileError{File: file, Reason: "binary content (NUL bytes in the first bytes): not a CSV settlement report"}
	}
	rd, err := settlement.NewReader(bytes.NewReader(head), s.Conf.Read)
	if err != nil {
		var ife *settlement.InvalidFileError
		if errors.As(err, &ife) {
			return nil, &InvalidFileError{File: file, Reason: ife.Reason}
		}
		return nil, infraError("sniff "+file, err)
	}
	for {
		row, err := rd.Next()
		if err != nil {
			break // the prefix ends, maybe mid-row: only complete valid rows count
		}
		if row.Valid() {
			res.MerchantAccount, res.BatchNumber = string(row.MerchantAccount), row.BatchNumber
			break
		}
	}
	if res.MerchantAccount == "" {
		log.InfoContext(ctx, "no valid row in the first bytes; the batch is known after validation")
		return res, nil
	}
	x.batch(res.MerchantAccount, res.BatchNumber)
	log = x.log
	done, replaces, err := s.committed(ctx, in, res.MerchantAccount, res.BatchNumber)
	if err != nil {
		return nil, err
	}
	if done {
		res.AlreadyProcessed, res.Reason = true, "this content is already committed"
		log.InfoContext(ctx, "already processed")
	}
	res.ReplacesETag = replaces
	return res, nil
}

// sniff reads the first SniffBytes of the file.
func (s *Steps) sniff(ctx context.Context, f FileRef) ([]byte, error) {
	file := f.URL()
	rc, err := s.Raw.OpenRange(ctx, f.Key, f.ETag, 0, SniffBytes)
	if err != nil {
		return nil, storageError("read "+file, file, err)
	}
	defer rc.Close()
	head, err := io.ReadAll(rc)
	if err != nil {
		return nil, infraError("read "+file, err)
	}
	return head, nil
}

// committed looks up a batch's manifest: (true, "", nil) when this file's content is committed,
// (false, etag, nil) when replace overrides another file's commit, a *ConflictError when another file's
// content is committed and replace is off.
func (s *Steps) committed(ctx context.Context, in StepInput, merchant string, batch int64) (bool, string, error) {
	key := ManifestKey(merchant, batch)
	m, _, err := s.readManifest(ctx, key)
	if err != nil {
		return false, "", err
	}
	switch {
	case m == nil:
		return false, "", nil
	case m.Source.ETag == in.File.ETag:
		return true, "", nil
	case in.Replace:
		return false, m.Source.ETag, nil
	default:
		return false, "", conflictError(in, merchant, batch, m.Source, false)
	}
}

// readManifest reads a batch's manifest and its (unquoted) ETag; nil and "" when there is none.
func (s *Steps) readManifest(ctx context.Context, key string) (*Manifest, string, error) {
	data, obj, err := s.Processed.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", infraError("read manifest "+key, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", &TransientError{Op: "read manifest " + key, Err: "not a manifest: " + err.Error()}
	}
	return &m, store.UnquoteETag(obj.ETag), nil
}

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
	rc, err := s.Raw.Open(vctx, in.File.Key, in.File.ETag)
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
	rep, err := settlement.ValidateReport(counted, s.Conf.Read, s.Conf.Policy, up)
	span.Annotate("bytes", counted.n)
	if rep != nil {
		span.Annotate("rows", rep.Counts.DataRows)
		span.Annotate("rejected", rep.Counts.Rejected)
	}
	span.End(err)
	x.validated(ctx, in.Check, rep, counted.n)
	if err != nil {
		var ife *settlement.InvalidFileError
		if errors.As(err, &ife) {
			return nil, &InvalidFileError{File: file, Reason: ife.Reason}
		}
		return nil, infraError("validate "+file, err)
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
	body, _ := json.MarshalIndent(rep, "", "  ")
	if _, err := s.Processed.Put(ctx, reportKey, append(body, '\n')); err != nil {
		return nil, infraError("write "+reportKey, err)
	}
	log.InfoContext(ctx, "validated", "rows", rep.Counts.DataRows, "rejected", rep.Counts.Rejected,
		"file_errors", len(rep.FileErrors), "warnings", len(rep.Warnings), "settlement_date", rep.SettlementDate)
	if !rep.OK() {
		return nil, &ValidationError{File: file, Rows: rep.Counts.DataRows, Rejected: rep.Counts.Rejected, MaxRejected: rep.Policy.MaxRejected,
			Problems: rep.Problems(), RejectsKey: res.RejectsKey, ReportKey: reportKey}
	}
	if in.Check != nil && in.Check.MerchantAccount != "" && (in.Check.MerchantAccount != rep.MerchantAccount || in.Check.BatchNumber != rep.BatchNumber) {
		return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("the first rows name batch %s/%d but the file validates as %s/%d",
			in.Check.MerchantAccount, in.Check.BatchNumber, rep.MerchantAccount, rep.BatchNumber)}
	}
	return res, nil
}

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
	tctx, span := s.Tracer.Start(ctx, "transform")
	rc, err := s.Raw.Open(tctx, in.File.Key, in.File.ETag)
	if err != nil {
		span.End(err)
		return nil, storageError("read "+file, file, err)
	}
	defer rc.Close()
	key := StagingKey(in.File.ETag)
	up, err := s.Processed.Create(tctx, key)
	if err != nil {
		span.End(err)
		return nil, infraError("create "+key, err)
	}
	defer up.Abort()
	if s.Stage == nil {
		span.End(nil)
		return nil, errors.New("transform: no StageFunc configured")
	}
	job := settlement.Job{ParallelOptions: settlement.ParallelOptions{Options: s.Conf.Read}, Key: in.File.Key, ETag: in.File.ETag, RowGroupRows: s.Conf.RowGroupRows}
	counts, err := s.Stage(rc, up, job)
	span.Annotate("rows", counts.Valid)
	span.End(err)
	if err != nil {
		var ife *settlement.InvalidFileError
		if errors.As(err, &ife) {
			return nil, &InvalidFileError{File: file, Reason: ife.Reason}
		}
		return nil, infraError("transform "+file, err)
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

// Write publishes the staged Parquet in its partition, removes what a replaced file published elsewhere,
// writes the manifest last and removes the staging.
func (s *Steps) Write(ctx context.Context, in StepInput) (res *WriteResult, err error) {
	ctx, x := s.observe(ctx, in, StepWrite)
	defer func() { x.end(ctx, err, "") }()
	if res, err = s.write(ctx, in, x); err == nil {
		x.committed(ctx, res)
	}
	return res, err
}

func (s *Steps) write(ctx context.Context, in StepInput, x *invocation) (*WriteResult, error) {
	if err := s.source(in); err != nil {
		return nil, err
	}
	if in.Validate == nil || in.Transform == nil {
		return nil, &InvalidFileError{File: in.File.URL(), Reason: "write needs the validate and transform steps' results"}
	}
	if n := len(in.Transform.Partitions); n != 1 {
		return nil, &InvalidFileError{File: in.File.URL(), Reason: fmt.Sprintf("transform staged %d partitions; a batch has one", n)}
	}
	for range maxCommitRaces {
		res, err := s.commit(ctx, in, x)
		if !errors.Is(err, errRace) {
			return res, err
		}
		x.log.InfoContext(ctx, "another writer changed the batch meanwhile; reading it again")
	}
	return nil, &TransientError{Op: "commit " + ManifestKey(in.Validate.MerchantAccount, in.Validate.BatchNumber),
		Err: fmt.Sprintf("other writers changed the batch %d times during this commit", maxCommitRaces)}
}

// publish copies the staged Parquet to its partition's key.
func (s *Steps) publish(ctx context.Context, stagingKey string, p Partition) (store.Object, error) {
	obj, err := s.Processed.Copy(ctx, stagingKey, p.Key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Object{}, &TransientError{Op: "publish " + stagingKey, Err: "the staged Parquet is gone; rerun from the transform step"}
	}
	if err != nil {
		return store.Object{}, infraError("publish "+p.Key, err)
	}
	if p.Bytes != 0 && obj.Size != p.Bytes {
		return store.Object{}, &TransientError{Op: "publish " + p.Key, Err: fmt.Sprintf("staged %d bytes, published %d", p.Bytes, obj.Size)}
	}
	return obj, nil
}

func (s *Steps) readReport(ctx context.Context, key string) (*settlement.Report, error) {
	rc, err := s.Processed.Open(ctx, key, "")
	if err != nil {
		return nil, infraError("read "+key, err)
	}
	defer rc.Close()
	var rep settlement.Report
	if err := json.NewDecoder(rc).Decode(&rep); err != nil {
		return nil, infraError("read "+key, err)
	}
	return &rep, nil
}

func (c Config) maxFileBytes() int64 {
	if c.MaxFileBytes <= 0 {
		return DefaultMaxFileBytes
	}
	return c.MaxFileBytes
}
