package parquetfile

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Dump reads a settlement_lines Parquet file and calls fn with each row as one JSON object, keys in
// column order: decimals as exact strings, timestamps as RFC 3339 in UTC, nulls as null. It is the
// readable form of the output used by golden tests, the exactness checks and `settle dump`.
func Dump(r parquet.ReaderAtSeeker, mem memory.Allocator, fn func(line []byte) error) error {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return fmt.Errorf("open parquet: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, mem)
	if err != nil {
		return fmt.Errorf("open parquet: %w", err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return fmt.Errorf("read parquet: %w", err)
	}
	defer rr.Release()
	var line []byte
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			line = AppendJSONRow(line[:0], rec, i)
			if err := fn(line); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("read parquet: %w", err)
	}
	return nil
}

// AppendJSONRow appends row i of rec as a JSON object.
func AppendJSONRow(b []byte, rec arrow.RecordBatch, i int) []byte {
	b = append(b, '{')
	for c := 0; c < int(rec.NumCols()); c++ {
		if c > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, rec.ColumnName(c))
		b = append(b, ':')
		col := rec.Column(c)
		if col.IsNull(i) {
			b = append(b, "null"...)
			continue
		}
		switch a := col.(type) {
		case *array.String:
			b = strconv.AppendQuote(b, a.Value(i))
		case *array.Int64:
			b = strconv.AppendInt(b, a.Value(i), 10)
		case *array.Timestamp:
			unit := a.DataType().(*arrow.TimestampType).Unit
			b = strconv.AppendQuote(b, a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano))
		case *array.Decimal128:
			scale := a.DataType().(*arrow.Decimal128Type).Scale
			b = strconv.AppendQuote(b, a.Value(i).ToString(scale))
		case *array.Decimal64:
			scale := a.DataType().(*arrow.Decimal64Type).Scale
			b = strconv.AppendQuote(b, a.Value(i).ToString(scale))
		default:
			b = strconv.AppendQuote(b, col.ValueStr(i))
		}
	}
	return append(b, '}')
}

// Columns describes a Parquet file's columns: name, physical type, logical type, repetition, and the
// first row group's dictionary use, encodings, compression and statistics (min-max, nulls for a null
// count alone as in a column of nulls, or none). Golden tests pin the physical layout with it.
func Columns(r parquet.ReaderAtSeeker) ([]string, int64, error) {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return nil, 0, fmt.Errorf("open parquet: %w", err)
	}
	defer pf.Close()
	sc := pf.MetaData().Schema
	var out []string
	for i := 0; i < sc.NumColumns(); i++ {
		col := sc.Column(i)
		dict, encodings, codec, stats := false, "", "", "none"
		if pf.NumRowGroups() > 0 {
			if md, err := pf.MetaData().RowGroup(0).ColumnChunk(i); err == nil {
				dict = md.HasDictionaryPage()
				encodings = fmt.Sprint(md.Encodings())
				codec = md.Compression().String()
				if st, err := md.Statistics(); err == nil && st != nil {
					switch {
					case st.HasMinMax():
						stats = "min-max"
					case st.HasNullCount():
						stats = "nulls"
					}
				}
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s %s dict=%v encodings=%s %s stats=%s", col.Name(), col.PhysicalType(), col.LogicalType(), repetition(col.MaxDefinitionLevel()), dict, encodings, codec, stats))
	}
	return out, pf.NumRows(), nil
}

func repetition(defLevel int16) string {
	if defLevel > 0 {
		return "optional"
	}
	return "required"
}
