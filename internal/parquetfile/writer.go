// Package parquetfile writes the settlement_lines table as Parquet files and reads them back. It is the
// only package that links arrow-go's Parquet implementation, so that only the write function (and the
// CLI) carry its size.
package parquetfile

import (
	"context"
	"errors"
	"fmt"
	"github.com/apache/arrow-go/v18/parquet/file"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/paysettle/settle/internal/table"
)

// DefaultRowGroupRows is the row-group size: 128Ki settlement lines make a row group of about 4–5 MB of
// zstd Parquet (about 50 MB of Arrow data while it is encoded), close to DuckDB's default and well inside
// the write step's memory; Athena skips row groups by their statistics either way.
const DefaultRowGroupRows = 128 * 1024

// Options tune the Parquet writer.
type Options struct {
	RowGroupRows int64            // DefaultRowGroupRows when 0
	Allocator    memory.Allocator // memory.DefaultAllocator when nil
	Workers      int              // columns encoded at once; GOMAXPROCS when 0
}

// Writer writes settlement_lines Parquet: zstd, dictionary encoding only on low-cardinality string
// columns (it is wasted work on unique references and on decimals), decimals of up to 18 digits stored as
// INT64, timestamps as microseconds adjusted to UTC.
//
// Rows are buffered into row groups of Options.RowGroupRows; each row group's columns are encoded and
// compressed by Options.Workers goroutines at once (pqarrow's own writer encodes one column after the
// other), then written in column order. Memory is bounded by one row group of Arrow data plus its encoded
// pages.
type Writer struct {
	pw          *file.Writer
	arrowProps  pqarrow.ArrowWriterProperties
	opts        Options
	pending     []arrow.RecordBatch
	pendingRows int64
	rows        int64
	closed      bool
}

// NewWriter starts a Parquet file on w. Close finishes it; it does not close w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	props := []parquet.WriterProperty{
		parquet.WithAllocator(opts.Allocator),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithMaxRowGroupLength(opts.RowGroupRows),
		parquet.WithDictionaryDefault(false),
		parquet.WithStoreDecimalAsInteger(true),
		parquet.WithCreatedBy("settle (github.com/paysettle/settle)"),
		parquet.WithDataPageSize(1 << 20),
	}
	for _, c := range table.Columns {
		if c.Dict {
			props = append(props, parquet.WithDictionaryFor(c.Name, true))
		}
	}
	// Sequential values: the line numbers, and record ids that share their batch prefix.
	props = append(props,
		parquet.WithEncodingFor("source_line", parquet.Encodings.DeltaBinaryPacked),
		parquet.WithEncodingFor("record_id", parquet.Encodings.DeltaByteArray))
	wp := parquet.NewWriterProperties(props...)
	arrowProps := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(opts.Allocator), pqarrow.WithCoerceTimestamps(arrow.Microsecond))
	sc, err := pqarrow.ToParquet(parquetSchema, wp, arrowProps)
	if err != nil {
		return nil, fmt.Errorf("parquet schema: %w", err)
	}
	pw, err := file.NewParquetWriterWithError(nopCloser{w}, sc.Root(), file.WithWriterProps(wp))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &Writer{pw: pw, arrowProps: arrowProps, opts: opts}, nil
}

// parquetSchema is table.Schema with Decimal64 columns as Decimal128 of the same precision and scale:
// pqarrow maps that to INT64 DECIMAL(18,3) (decimals stored as integers), which is what writeColumn writes
// from the Decimal64 buffers directly.
var parquetSchema = func() *arrow.Schema {
	fields := table.Schema.Fields()
	for i, f := range fields {
		if d, ok := f.Type.(*arrow.Decimal64Type); ok {
			fields[i].Type = &arrow.Decimal128Type{Precision: d.Precision, Scale: d.Scale}
		}
	}
	return arrow.NewSchema(fields, nil)
}()

// nopCloser keeps the file writer from closing the caller's writer: an upload is committed by its owner.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Write appends a record batch of settlement_lines; a row group is encoded once enough rows are buffered.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return errors.New("parquet write: writer is closed")
	}
	if !rec.Schema().Equal(table.Schema) {
		return fmt.Errorf("parquet write: record is not settlement_lines: %s", rec.Schema())
	}
	rec.Retain()
	w.pending = append(w.pending, rec)
	w.pendingRows += rec.NumRows()
	if w.pendingRows >= w.opts.RowGroupRows {
		return w.flush()
	}
	return nil
}

// flush encodes the buffered rows as one row group, columns in parallel.
func (w *Writer) flush() error {
	defer func() {
		for _, r := range w.pending {
			r.Release()
		}
		w.pending, w.pendingRows = w.pending[:0], 0
	}()
	if w.pendingRows == 0 {
		return nil
	}
	rgw, err := w.pw.AppendBufferedRowGroupChecked()
	if err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	errs := make([]error, len(table.Columns))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w.opts.Workers {
		wg.Go(func() {
			// A write context holds scratch buffers: one per goroutine.
			ctx := pqarrow.NewArrowWriteContext(context.Background(), &w.arrowProps)
			var defs []int16
			for {
				i := int(next.Add(1) - 1)
				if i >= len(encodeOrder) {
					return
				}
				c := encodeOrder[i]
				errs[c] = w.writeColumn(ctx, rgw, c, &defs)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	if err := rgw.Close(); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	w.rows += w.pendingRows
	return nil
}

// encodeOrder puts the expensive columns (unique strings, then plain numbers) first, so that the last
// column to start is a cheap one and the workers finish together.
var encodeOrder = func() []int {
	var order []int
	for pass := 0; pass < 3; pass++ {
		for i, c := range table.Columns {
			str := c.Type.ID() == arrow.STRING
			if (pass == 0 && str && !c.Dict) || (pass == 1 && !str) || (pass == 2 && str && c.Dict) {
				order = append(order, i)
			}
		}
	}
	return order
}()

// writeColumn writes column c of every buffered batch. Pages of plain-encoded columns are compressed here,
// in the worker; the row group's Close only copies them to the file in column order. Dictionary columns
// keep their (small) pages until Close, which must write the dictionary page first.
func (w *Writer) writeColumn(ctx context.Context, rgw file.BufferedRowGroupWriter, c int, defs *[]int16) error {
	cw, err := rgw.Column(c)
	if err != nil {
		return err
	}
	nullable := table.Columns[c].Nullable
	for _, rec := range w.pending {
		arr := rec.Column(c)
		var levels []int16
		if nullable {
			levels = defLevels(arr, defs)
		}
		var err error
		if d64, ok := arr.(*array.Decimal64); ok {
			err = writeDecimal64(cw, d64, levels)
		} else {
			err = pqarrow.WriteArrowToColumn(ctx, cw, arr, levels, nil, nullable)
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", table.Columns[c].Name, err)
		}
	}
	if f, ok := cw.(interface{ FlushBufferedDataPages() error }); ok && !table.Columns[c].Dict {
		return f.FlushBufferedDataPages()
	}
	return nil
}

// writeDecimal64 writes a Decimal64 array's values, which are the INT64 of a Parquet DECIMAL, as they are.
func writeDecimal64(cw file.ColumnChunkWriter, arr *array.Decimal64, levels []int16) error {
	w, ok := cw.(*file.Int64ColumnChunkWriter)
	if !ok {
		return fmt.Errorf("a Decimal64 column needs an INT64 column writer, not %T", cw)
	}
	data := arr.Data()
	values := arrow.Int64Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset() : data.Offset()+data.Len()]
	if arr.NullN() == 0 {
		_, err := w.WriteBatch(values, levels, nil)
		return err
	}
	_, err := w.WriteBatchSpacedWithError(values, levels, nil, arr.NullBitmapBytes(), int64(data.Offset()))
	return err
}

// defLevels are the Parquet definition levels of a flat nullable column: 1 for a value, 0 for null.
func defLevels(arr arrow.Array, buf *[]int16) []int16 {
	n := arr.Len()
	if cap(*buf) < n {
		*buf = make([]int16, n)
	}
	levels := (*buf)[:n]
	if arr.NullN() == 0 {
		for i := range levels {
			levels[i] = 1
		}
		return levels
	}
	for i := range levels {
		if arr.IsValid(i) {
			levels[i] = 1
		} else {
			levels[i] = 0
		}
	}
	return levels
}

// Rows is the number of rows written.
func (w *Writer) Rows() int64 { return w.rows + w.pendingRows }

// Close writes the last row group and the footer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.flush(); err != nil {
		w.pw.Close()
		return err
	}
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	return nil
}

// FromStage reads a staging stream and writes it as one Parquet file on out. It returns the number of
// rows written.
func FromStage(stage io.Reader, out io.Writer, opts Options) (int64, error) {
	sr, err := table.NewStageReader(stage, opts.Allocator)
	if err != nil {
		return 0, err
	}
	defer sr.Release()
	pw, err := NewWriter(out, opts)
	if err != nil {
		return 0, err
	}
	// Read and decompress the next batches while the current row group is encoded: the encoders leave
	// a core free whenever a row group is being closed or filled.
	type batch struct {
		rec arrow.RecordBatch
		err error
	}
	batches := make(chan batch, 2)
	stop := make(chan struct{})
	go func() {
		defer close(batches)
		for {
			rec, err := sr.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err == nil {
				rec.Retain() // the reader reuses it on the next call
			}
			select {
			case batches <- batch{rec, err}:
			case <-stop:
				if rec != nil {
					rec.Release()
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range batches {
		if b.err == nil {
			b.err = pw.Write(b.rec)
			b.rec.Release()
		}
		if b.err != nil {
			pw.Close()
			close(stop)
			for rest := range batches {
				if rest.rec != nil {
					rest.rec.Release()
				}
			}
			return 0, b.err
		}
	}
	close(stop)
	if err := pw.Close(); err != nil {
		return 0, err
	}
	return pw.Rows(), nil
}

// Encode is FromStage with default options and the given row-group size (workflow.EncodeFunc's shape).
func Encode(stage io.Reader, out io.Writer, rowGroupRows int64) (int64, error) {
	return FromStage(stage, out, Options{RowGroupRows: rowGroupRows})
}
