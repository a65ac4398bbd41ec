package table

import (
	"errors"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

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
	// Two stages on two cores: this goroutine parses rows and builds record batches, another compresses and
	// writes them. The channel holds at most two batches, which bounds memory.
	sw := NewStageWriter(stage, opts.Allocator)
	batches := make(chan arrow.RecordBatch, 2)
	written := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		for rec := range batches {
			if err == nil {
				if err = sw.Write(rec); err != nil {
					failed.Store(true)
				}
			}
			rec.Release()
		}
		if err == nil {
			err = sw.Close()
		}
		written <- err
	}()
	counts, err := buildBatches(rd, opts, batches, &failed)
	close(batches)
	if werr := <-written; err == nil {
		err = werr
	}
	return counts, err
}

// buildBatches reads rows and sends them as record batches of opts.BatchRows rows.
func buildBatches(rd *settlement.Reader, opts StageOptions, out chan<- arrow.RecordBatch, failed *atomic.Bool) (settlement.Counts, error) {
	var b *Builder
	defer func() {
		if b != nil {
			b.Release()
		}
	}()
	for !failed.Load() {
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
		if err := b.Append(row); err != nil {
			return rd.Counts(), err
		}
		if b.Len() >= opts.BatchRows {
			out <- b.NewRecordBatch()
			b.Reserve(opts.BatchRows)
		}
	}
	if b != nil && b.Len() > 0 {
		out <- b.NewRecordBatch()
	}
	return rd.Counts(), nil
}

// StageFunc adapts Stage to workflow.StageFunc's shape (provider, key and etag of the source file).
func StageFunc(report io.Reader, stage io.Writer, read settlement.Options, provider, key, etag string) (settlement.Counts, error) {
	return Stage(report, stage, StageOptions{Read: read, Source: Source{Provider: provider, Key: key, ETag: etag}})
}
