// Package parquetfile writes the settlement_lines table as Parquet files and reads them back. It is the
// only package that links arrow-go's Parquet implementation, so that only the write function (and the
// CLI) carry its size.
package parquetfile

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/paysettle/settle/internal/table"
)

// DefaultRowGroupRows is the row-group size: about 60–90 MB of uncompressed column data for settlement
// lines, in the range Athena reads efficiently, while keeping the buffered row group well under the
// write step's memory.
const DefaultRowGroupRows = 512 * 1024

// Options tune the Parquet writer.
type Options struct {
	RowGroupRows int64            // DefaultRowGroupRows when 0
	Allocator    memory.Allocator // memory.DefaultAllocator when nil
}

// Writer writes settlement_lines Parquet: zstd, dictionary encoding only on low-cardinality string
// columns (it is wasted work on unique references and on decimals), decimals of up to 18 digits stored as
// INT64, timestamps as microseconds adjusted to UTC.
type Writer struct {
	fw   *pqarrow.FileWriter
	rows int64
}

// NewWriter starts a Parquet file on w. Close finishes it and closes w if w is an io.Closer
// (pqarrow does that): pass a writer whose Close is harmless or wanted.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
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
	arrowProps := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(opts.Allocator), pqarrow.WithCoerceTimestamps(arrow.Microsecond))
	fw, err := pqarrow.NewFileWriter(table.Schema, w, parquet.NewWriterProperties(props...), arrowProps)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &Writer{fw: fw}, nil
}

// Write appends a record batch; rows are buffered into row groups of the configured size.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if err := w.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	w.rows += rec.NumRows()
	return nil
}

// Rows is the number of rows written.
func (w *Writer) Rows() int64 { return w.rows }

// Close writes the last row group and the footer.
func (w *Writer) Close() error {
	if err := w.fw.Close(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	return nil
}

// FromStage reads a staging stream and writes it as one Parquet file on out. It returns the number of
// rows written. out is closed by the Parquet writer when it is an io.Closer.
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

// Encode is FromStage with default options and the given row-group size (workflow.EncodeFunc's shape).
func Encode(stage io.Reader, out io.Writer, rowGroupRows int64) (int64, error) {
	return FromStage(stage, out, Options{RowGroupRows: rowGroupRows})
}
