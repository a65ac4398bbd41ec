package table

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/settlement"
)

// RecordWriter receives settlement_lines record batches in file order (a Parquet writer). Write must
// not keep rec past its return without retaining it.
type RecordWriter interface {
	Write(rec arrow.RecordBatch) error
}

// Stage reads a report that validation accepted and passes its valid rows, as settlement_lines record
// batches built with mem (memory.DefaultAllocator when nil), to sink. Rejected rows are skipped: the same reader rejects the same rows validation
// rejected. It returns the reader's counts.
//
// The work is spread over the cores: the parallel reader's workers decode rows and build a record batch
// per chunk, and one goroutine hands the batches to sink in file order. At most a few chunks and batches
// are in flight, which bounds memory. A batch's text is bounded too (4 blocks' worth): the extra
// columns' JSON repeats their header names in every row, so a chunk of short rows under a wide header
// can hold many times its own bytes; such a chunk waits for its turn and hands over a batch each time
// it reaches the bound. A report of settlement lines never does.
func Stage(r io.Reader, sink RecordWriter, job settlement.Job, mem memory.Allocator) (settlement.Counts, error) {
	if job.BlockBytes <= 0 {
		job.BlockBytes = settlement.DefaultBlockBytes
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	batches := make(chan arrow.RecordBatch, 1)
	written := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		for rec := range batches {
			if err == nil {
				if err = sink.Write(rec); err != nil {
					failed.Store(true)
				}
			}
			rec.Release()
		}
		written <- err
	}()

	type built struct {
		rec      arrow.RecordBatch // nil when the chunk had no valid row
		merchant string
	}
	var merchant string
	// hand passes a chunk's batch on, in file order: called by ReadParallel's deliver, or by the chunk's
	// worker in its turn (when every chunk before it is delivered, so the two never run at once).
	hand := func(c built) error {
		if c.rec == nil {
			return nil
		}
		if merchant == "" {
			merchant = c.merchant
		} else if c.merchant != merchant {
			c.rec.Release()
			return fmt.Errorf("merchant account %q after %q: a file holds one batch", c.merchant, merchant)
		}
		if failed.Load() {
			c.rec.Release()
			return errors.New("write failed")
		}
		batches <- c.rec
		return nil
	}
	maxText := 4 * job.BlockBytes
	_, counts, err := settlement.ReadParallel(r, job.ParallelOptions,
		func(cr *settlement.ChunkRows) (built, error) {
			var b *Builder
			defer func() {
				if b != nil {
					b.Release()
				}
			}()
			for row := cr.Next(); row != nil; row = cr.Next() {
				if !row.Valid() {
					continue
				}
				if b == nil {
					src := Source{Provider: cr.Layout().Provider, Key: job.Key, ETag: job.ETag}
					ids := settlement.NewRecordIDs(src.Provider, string(row.MerchantAccount), row.BatchNumber)
					b = NewBuilder(mem, src, ids)
					b.Reserve(job.BlockBytes / 160) // about a settlement line's size
				}
				if err := b.Append(row); err != nil {
					return built{}, err
				}
				if b.text >= maxText {
					if !cr.WaitTurn() {
						return built{}, errors.New("stopped by an earlier chunk's error")
					}
					if err := hand(built{b.NewRecordBatch(), string(b.merchant)}); err != nil {
						return built{}, err
					}
				}
			}
			if b == nil {
				return built{}, nil
			}
			if b.Len() == 0 { // all handed over already
				return built{}, nil
			}
			return built{b.NewRecordBatch(), string(b.merchant)}, nil
		},
		hand)
	close(batches)
	if werr := <-written; werr != nil && (err == nil || failed.Load()) {
		err = werr
	}
	return counts, err
}
