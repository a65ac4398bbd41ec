// Package parquetfile writes the settlement_lines table as Parquet files and reads them back. It is the
// only package that links arrow-go's Parquet implementation, so that only the transform function (and
// the CLI) carry its size.
package parquetfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

// DefaultRowGroupRows is the row-group size: 128Ki settlement lines make a row group of about 4–5 MB of
// zstd Parquet, held as encoded pages until it is written, close to DuckDB's default and well inside the
// transform step's memory; Athena skips row groups by their statistics either way.
const DefaultRowGroupRows = 128 * 1024

// DefaultRowGroupBytes bounds a row group's text (the bytes of its string values) as well: 128Ki
// settlement lines hold about 17 MB, but rows can be up to the record limit long, and a row group of
// 128Ki such rows would be held in memory whole. A row group ends at whichever limit comes first.
const DefaultRowGroupBytes = 64 << 20

// Options tune the Parquet writer.
type Options struct {
	RowGroupRows  int64            // DefaultRowGroupRows when 0
	RowGroupBytes int64            // DefaultRowGroupBytes when 0
	Allocator     memory.Allocator // memory.DefaultAllocator when nil
	Workers       int              // columns encoded at once; GOMAXPROCS when 0
}

// Writer writes settlement_lines Parquet: decimals of up to 18 digits stored as INT64, timestamps as
// microseconds adjusted to UTC; the builder's dictionary columns (low-cardinality strings, the batch,
// fees, the exchange rate) as each row group's dictionary; times and payment amounts DELTA_BINARY_PACKED
// and not compressed; the other columns zstd (decisions.md has the measurements).
//
// Each record batch is encoded as it arrives, its columns by Options.Workers goroutines at once (pqarrow's
// own writer encodes one column after the other), into a buffered row group that is written out, in
// column order, once it holds Options.RowGroupRows rows. Memory is bounded by one row group of encoded
// pages, not of Arrow data: a batch is released as soon as it is encoded.
type Writer struct {
	pw      *file.Writer
	opts    Options
	workers []worker
	rgw     file.BufferedRowGroupWriter // the row group being filled, nil when none is open
	rgRows  int64
	rgBytes int64 // text of the row group being filled
	rows    int64
	dicts   []*dictChunk // by column, nil for a column that is not dictionary-encoded
	closed  bool
}

// worker holds one encoding goroutine's scratch: pqarrow's write context and definition levels.
type worker struct {
	ctx   context.Context
	defs  []int16
	dense []int64
}

// NewWriter starts a Parquet file on w. Close finishes it; it does not close w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
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
	for _, name := range deltaPacked {
		props = append(props,
			parquet.WithEncodingFor(name, parquet.Encodings.DeltaBinaryPacked),
			parquet.WithCompressionFor(name, compress.Codecs.Uncompressed))
	}
	for _, name := range noStatistics {
		props = append(props, parquet.WithStatsFor(name, false))
	}
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
	pqw := &Writer{pw: pw, opts: opts, workers: make([]worker, opts.Workers), dicts: make([]*dictChunk, len(table.Columns))}
	for i, c := range table.Columns {
		if c.Dict {
			kind := c.Type.(*arrow.DictionaryType).ValueType.ID()
			if kind == arrow.DECIMAL64 { // fees: INT64 in Parquet
				kind = arrow.INT64
			}
			pqw.dicts[i] = newDictChunk(kind, c.Nullable)
		}
	}
	for i := range pqw.workers {
		pqw.workers[i].ctx = pqarrow.NewArrowWriteContext(context.Background(), &arrowProps)
	}
	return pqw, nil
}

// deltaPacked are the columns of times and payment amounts, written DELTA_BINARY_PACKED and not
// compressed: bit-packing their differences takes a few nanoseconds a value and, on a generated
// million-row report, makes 4.9 MB of creation times where PLAIN and zstd made 5.9 MB, and the amounts
// a little smaller too; zstd finds nothing more in the packed bits, and it cost about 15% of the
// encoding to compress them as plain values.
var deltaPacked = []string{"creation_time", "booking_time", "gross_debit", "gross_credit", "net_debit", "net_credit", "net_amount"}

// noStatistics are the columns written without minimum and maximum: free text no query ranges over
// (the merchant's references, the extra columns' JSON). Comparing every value of them cost about 6% of
// the encoding. Times, amounts, the batch, types, currencies, the payment references and the record id
// keep theirs, which readers use to skip row groups and files (a lookup by record_id reads the one file
// whose range holds it: ids begin with their batch's prefix).
var noStatistics = []string{"merchant_reference", "modification_merchant_reference", "extra"}

// parquetSchema is table.Schema with Decimal64 columns (and dictionaries of them) as Decimal128 of the
// same precision and scale: pqarrow maps that to INT64 DECIMAL(18,3) (decimals stored as integers), which
// is what writeColumn writes from the Decimal64 buffers directly.
var parquetSchema = func() *arrow.Schema {
	fields := table.Schema.Fields()
	for i, f := range fields {
		t := f.Type
		if d, ok := t.(*arrow.DictionaryType); ok {
			t = d.ValueType
		}
		if d, ok := t.(*arrow.Decimal64Type); ok {
			fields[i].Type = &arrow.Decimal128Type{Precision: d.Precision, Scale: d.Scale}
		}
	}
	return arrow.NewSchema(fields, nil)
}()

// nopCloser keeps the file writer from closing the caller's writer: an upload is committed by its owner.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Write encodes a record batch of settlement_lines into the current row group; a row group is written
// out once it holds Options.RowGroupRows rows or the next row would take its text past
// Options.RowGroupBytes (a row group has at least one row), row by row, so row groups do not depend on
// how rows were batched. Write does not keep rec.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return errors.New("parquet write: writer is closed")
	}
	if !rec.Schema().Equal(table.Schema) {
		return fmt.Errorf("parquet write: record is not settlement_lines: %s", rec.Schema())
	}
	text := textOffsets(rec)
	for off, n := int64(0), rec.NumRows(); off < n; {
		part := min(n-off, w.opts.RowGroupRows-w.rgRows)
		fit, size := fitText(text, off, part, w.opts.RowGroupBytes-w.rgBytes)
		if fit == 0 && w.rgRows > 0 { // the next row does not fit: it starts the next row group
			if err := w.endRowGroup(); err != nil {
				return err
			}
			continue
		}
		full := fit < part
		if fit == 0 { // a row alone over the limit is a row group of its own
			fit, size = fitText(text, off, 1, math.MaxInt64)
		}
		part = fit
		w.rgBytes += size
		if off == 0 && part == n {
			if err := w.encode(rec); err != nil {
				return err
			}
		} else {
			slice := rec.NewSlice(off, off+part)
			err := w.encode(slice)
			slice.Release()
			if err != nil {
				return err
			}
		}
		off += part
		if full && w.rgw != nil {
			if err := w.endRowGroup(); err != nil {
				return err
			}
		}
	}
	return nil
}

// textOffsets returns the value offsets of rec's text columns (table.Column.Text): those of its string
// columns, and one more for its dictionary string columns together, the running sum of their values'
// lengths.
func textOffsets(rec arrow.RecordBatch) [][]int32 {
	var out [][]int32
	var dicts []int32
	for i, c := range table.Columns {
		if !c.Text() {
			continue
		}
		if c.Type.ID() == arrow.STRING {
			out = append(out, rec.Column(i).(*array.String).ValueOffsets())
			continue
		}
		d := rec.Column(i).(*array.Dictionary)
		if dicts == nil {
			dicts = make([]int32, d.Len()+1)
		}
		values := d.Dictionary().(*array.String).ValueOffsets()
		indices := d.Indices().(*array.Int32).Int32Values()
		for r, j := range indices {
			if d.IsValid(r) {
				dicts[r+1] += values[j+1] - values[j]
			}
		}
	}
	if dicts != nil {
		for r := 1; r < len(dicts); r++ {
			dicts[r] += dicts[r-1]
		}
		out = append(out, dicts)
	}
	return out
}

// fitText returns how many of the n rows from off fit in budget bytes of text, and their text: the
// text of rows off…off+k is a difference of offsets per column, so a binary search finds k.
func fitText(text [][]int32, off, n, budget int64) (int64, int64) {
	size := func(k int64) int64 {
		var s int64
		for _, o := range text {
			s += int64(o[off+k] - o[off])
		}
		return s
	}
	if s := size(n); s <= budget {
		return n, s
	}
	lo, hi := int64(0), n // size(lo) <= budget < size(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if size(mid) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, size(lo)
}

// encode writes rec, which fits in the current row group, and ends the row group when it is full.
func (w *Writer) encode(rec arrow.RecordBatch) error {
	if w.rgw == nil {
		rgw, err := w.pw.AppendBufferedRowGroupChecked()
		if err != nil {
			return fmt.Errorf("parquet write: %w", err)
		}
		w.rgw = rgw
	}
	if err := w.eachColumn(func(wk *worker, c int) error {
		if d := w.dicts[c]; d != nil {
			d.add(rec.Column(c).(*array.Dictionary))
			return nil
		}
		return w.writeColumn(wk, c, rec.Column(c))
	}); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	w.rgRows += rec.NumRows()
	if w.rgRows >= w.opts.RowGroupRows {
		return w.endRowGroup()
	}
	return nil
}

// eachColumn runs f for every column, spread over the workers, and joins the errors.
func (w *Writer) eachColumn(f func(wk *worker, c int) error) error {
	errs := make([]error, len(table.Columns))
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := range w.workers {
		wk := &w.workers[i]
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(encodeOrder) {
					return
				}
				c := encodeOrder[i]
				errs[c] = f(wk, c)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// endRowGroup encodes the dictionary columns and compresses the row group's last pages on all cores,
// and writes the row group out. A dictionary column's dictionary and its one data page are written here,
// by dictChunk.write, and held by the buffered row group writer until its Close writes the dictionary
// page first.
func (w *Writer) endRowGroup() error {
	if w.rgw == nil {
		return nil
	}
	rgw := w.rgw
	w.rgw = nil
	err := w.eachColumn(func(_ *worker, c int) error {
		cw, err := rgw.Column(c)
		if err != nil {
			return err
		}
		if d := w.dicts[c]; d != nil {
			if err := d.write(cw); err != nil {
				return fmt.Errorf("column %s: %w", table.Columns[c].Name, err)
			}
			return nil
		}
		if f, ok := cw.(interface{ FlushBufferedDataPages() error }); ok {
			return f.FlushBufferedDataPages()
		}
		return nil
	})
	if err == nil {
		err = rgw.Close()
	}
	if err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	w.rows += w.rgRows
	w.rgRows, w.rgBytes = 0, 0
	return nil
}

// encodeOrder puts the expensive columns (unique strings, then plain numbers) first, so that the last
// column to start is a cheap one and the workers finish together.
var encodeOrder = func() []int {
	var order []int
	for pass := 0; pass < 3; pass++ {
		for i, c := range table.Columns {
			str := c.Type.ID() == arrow.STRING
			if (pass == 0 && str) || (pass == 1 && !str && !c.Dict) || (pass == 2 && c.Dict) {
				order = append(order, i)
			}
		}
	}
	return order
}()

// writeColumn encodes arr as column c of the current row group. Full pages are compressed here, in the
// worker.
func (w *Writer) writeColumn(wk *worker, c int, arr arrow.Array) error {
	cw, err := w.rgw.Column(c)
	if err != nil {
		return err
	}
	nullable := table.Columns[c].Nullable
	var levels []int16
	if nullable {
		levels = defLevels(arr, &wk.defs)
	}
	if d64, ok := arr.(*array.Decimal64); ok {
		err = writeDecimal64(cw, d64, levels, &wk.dense)
	} else {
		err = pqarrow.WriteArrowToColumn(wk.ctx, cw, arr, levels, nil, nullable)
	}
	if err != nil {
		return fmt.Errorf("column %s: %w", table.Columns[c].Name, err)
	}
	return nil
}

// writeDecimal64 writes a Decimal64 array's values, which are the INT64 of a Parquet DECIMAL, as they are.
func writeDecimal64(cw file.ColumnChunkWriter, arr *array.Decimal64, levels []int16, scratch *[]int64) error {
	w, ok := cw.(*file.Int64ColumnChunkWriter)
	if !ok {
		return fmt.Errorf("a Decimal64 column needs an INT64 column writer, not %T", cw)
	}
	data := arr.Data()
	values := arrow.Int64Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset() : data.Offset()+data.Len()]
	if arr.NullN() > 0 {
		// WriteBatch takes the non-null values and the levels; gathering them here costs less than the
		// spaced path's walk over short runs of set bits (debit and credit columns alternate nulls).
		dense := (*scratch)[:0]
		for i, v := range values {
			if arr.IsValid(i) {
				dense = append(dense, v)
			}
		}
		*scratch = dense
		values = dense
	}
	_, err := w.WriteBatch(values, levels, nil)
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
func (w *Writer) Rows() int64 { return w.rows + w.rgRows }

// Close writes the last row group and the footer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.endRowGroup(); err != nil {
		w.pw.Close()
		return err
	}
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	return nil
}

// Stage is the transform step's work (workflow.StageFunc): it reads a report that validation accepted
// and writes its valid rows to out as one settlement_lines Parquet file, returning the reader's counts.
// Parsing and building run on the parallel reader's workers while row groups are encoded on all cores
// (table.Stage); memory is bounded by a few chunks in flight and one row group.
func Stage(report io.Reader, out io.Writer, job settlement.Job) (settlement.Counts, error) {
	return FromReport(report, out, job, nil)
}

// FromReport is Stage with the allocator the rows and pages are built with (memory.DefaultAllocator when
// nil; tests pass a checked one).
func FromReport(report io.Reader, out io.Writer, job settlement.Job, mem memory.Allocator) (settlement.Counts, error) {
	pw, err := NewWriter(out, Options{RowGroupRows: job.RowGroupRows, Allocator: mem})
	if err != nil {
		return settlement.Counts{}, err
	}
	counts, err := table.Stage(report, pw, job, mem)
	if err != nil {
		pw.Close()
		return counts, err
	}
	for _, k := range slices.Sorted(maps.Keys(job.Metadata)) {
		if err := pw.pw.AppendKeyValueMetadata(k, job.Metadata[k]); err != nil {
			pw.Close()
			return counts, fmt.Errorf("parquet footer %s: %w", k, err)
		}
	}
	if err := pw.Close(); err != nil {
		return counts, err
	}
	if pw.Rows() != counts.Valid {
		return counts, fmt.Errorf("parquet write: %d rows written, the reader accepted %d", pw.Rows(), counts.Valid)
	}
	return counts, nil
}
