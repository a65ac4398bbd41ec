package table

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// DefaultRowGroupRows is the row-group size: about 60–90 MB of uncompressed column data for settlement
// lines, in the range Athena reads efficiently, while keeping the buffered row group well under the
// write step's memory.
const DefaultRowGroupRows = 512 * 1024

// ParquetOptions tune the Parquet writer.
type ParquetOptions struct {
	RowGroupRows int64            // DefaultRowGroupRows when 0
	Allocator    memory.Allocator // memory.DefaultAllocator when nil
}

// ParquetWriter writes settlement_lines Parquet: zstd, dictionary encoding only on low-cardinality string
// columns (it is wasted work on unique references and on decimals), decimals of up to 18 digits stored as
// INT64, timestamps as microseconds adjusted to UTC.
type ParquetWriter struct {
	fw   *pqarrow.FileWriter
	rows int64
}

// NewParquetWriter starts a Parquet file on w. Close finishes it and closes w if w is an io.Closer
// (pqarrow does that): pass a writer whose Close is harmless or wanted.
func NewParquetWriter(w io.Writer, opts ParquetOptions) (*ParquetWriter, error) {
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
	for _, c := range Columns {
		if c.Dict {
			props = append(props, parquet.WithDictionaryFor(c.Name, true))
		}
	}
	arrowProps := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(opts.Allocator), pqarrow.WithCoerceTimestamps(arrow.Microsecond))
	fw, err := pqarrow.NewFileWriter(Schema, w, parquet.NewWriterProperties(props...), arrowProps)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &ParquetWriter{fw: fw}, nil
}

// Write appends a record batch; rows are buffered into row groups of the configured size.
func (w *ParquetWriter) Write(rec arrow.RecordBatch) error {
	if err := w.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	w.rows += rec.NumRows()
	return nil
}

// Rows is the number of rows written.
func (w *ParquetWriter) Rows() int64 { return w.rows }

// Close writes the last row group and the footer.
func (w *ParquetWriter) Close() error {
	if err := w.fw.Close(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	return nil
}
