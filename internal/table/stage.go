package table

import (
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/settlement"
)

// DefaultBatchRows is the number of rows per staged record batch.
const DefaultBatchRows = 64 * 1024

// StageOptions tune Stage.
type StageOptions struct {
	Read      settlement.Options
	Source    Source
	BatchRows int              // DefaultBatchRows when 0
	Allocator memory.Allocator // memory.DefaultAllocator when nil
}

// Stage reads a report that validation accepted and writes its valid rows, as settlement_lines record
// batches, to stage as an Arrow IPC stream. Rejected rows are skipped: the same reader rejects the same
// rows validation rejected. It returns the reader's counts.
func Stage(r io.Reader, stage io.Writer, opts StageOptions) (settlement.Counts, error) {
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
	sw := NewStageWriter(stage, opts.Allocator)
	var b *Builder
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
			b = NewBuilder(opts.Allocator, opts.Source, ids)
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

// StageFunc adapts Stage to workflow.StageFunc's shape (provider, key and etag of the source file).
func StageFunc(report io.Reader, stage io.Writer, read settlement.Options, provider, key, etag string) (settlement.Counts, error) {
	return Stage(report, stage, StageOptions{Read: read, Source: Source{Provider: provider, Key: key, ETag: etag}})
}
