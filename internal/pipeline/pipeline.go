// Package pipeline does the work of the validate, transform and write steps on streams, with no storage
// and no AWS: CSV in, rejects and a validation report out; CSV in, staged Arrow IPC out; staged IPC in,
// Parquet out. The workflow package wraps each in a step handler with object keys, typed errors and
// manifests; benchmarks and tests call them directly.
package pipeline

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

// DefaultBatchRows is the number of rows per staged record batch.
const DefaultBatchRows = 64 * 1024

// Validate reads a whole report, writes every rejected row to rejects (JSON Lines) and returns the
// validation report. A file that is not a readable report, or has no data rows, is a
// *settlement.InvalidFileError; other errors are I/O errors.
func Validate(r io.Reader, opts settlement.Options, policy settlement.Policy, rejects io.Writer) (*settlement.Report, error) {
	rd, err := settlement.NewReader(r, opts)
	if err != nil {
		return nil, err
	}
	v := settlement.NewValidator(rd.Layout().Provider, policy)
	rw := settlement.NewRejectWriter(rejects)
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if row.Valid() {
			v.Add(row)
			continue
		}
		v.Reject(row)
		if err := rw.Write(row); err != nil {
			return nil, fmt.Errorf("write rejects: %w", err)
		}
	}
	if err := rw.Flush(); err != nil {
		return nil, fmt.Errorf("write rejects: %w", err)
	}
	counts := rd.Counts()
	if counts.DataRows == 0 {
		return nil, &settlement.InvalidFileError{Reason: fmt.Sprintf("the report has a header but no data rows (%d lines)", counts.Lines)}
	}
	return v.Report(counts), nil
}

// TransformOptions tune Transform.
type TransformOptions struct {
	Read      settlement.Options
	Source    table.Source
	BatchRows int              // DefaultBatchRows when 0
	Allocator memory.Allocator // memory.DefaultAllocator when nil
}

// Transform reads a report that validation accepted and stages its valid rows, as settlement_lines
// record batches, on stage. Rejected rows are skipped: the same reader rejects the same rows validation
// rejected. It returns the reader's counts.
func Transform(r io.Reader, stage io.Writer, opts TransformOptions) (settlement.Counts, error) {
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	rd, err := settlement.NewReader(r, opts.Read)
	if err != nil {
		return settlement.Counts{}, err
	}
	sw := table.NewStageWriter(stage, opts.Allocator)
	var b *table.Builder
	defer func() {
		if b != nil {
			b.Release()
		}
	}()
	flush := func() error {
		rec := b.NewRecordBatch()
		defer rec.Release()
		return sw.Write(rec)
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rd.Counts(), err
		}
		if !row.Valid() {
			continue
		}
		if b == nil {
			ids := settlement.NewRecordIDs(opts.Source.Provider, string(row.MerchantAccount), row.BatchNumber)
			b = table.NewBuilder(opts.Allocator, opts.Source, ids)
			b.Reserve(opts.BatchRows)
		}
		b.Append(row)
		if b.Len() >= opts.BatchRows {
			if err := flush(); err != nil {
				return rd.Counts(), err
			}
			b.Reserve(opts.BatchRows)
		}
	}
	if b != nil && b.Len() > 0 {
		if err := flush(); err != nil {
			return rd.Counts(), err
		}
	}
	if err := sw.Close(); err != nil {
		return rd.Counts(), err
	}
	return rd.Counts(), nil
}

// WriteParquet reads a staging stream and writes it as one Parquet file on out. It returns the number of
// rows written. out is closed by the Parquet writer when it is an io.Closer.
func WriteParquet(stage io.Reader, out io.Writer, opts table.ParquetOptions) (int64, error) {
	sr, err := table.NewStageReader(stage, opts.Allocator)
	if err != nil {
		return 0, err
	}
	defer sr.Release()
	pw, err := table.NewParquetWriter(out, opts)
	if err != nil {
		return 0, err
	}
	for {
		rec, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			pw.Close()
			return 0, err
		}
		if err := pw.Write(rec); err != nil {
			pw.Close()
			return 0, err
		}
	}
	if err := pw.Close(); err != nil {
		return 0, err
	}
	return pw.Rows(), nil
}
