package parquetfile_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/paysettle/settle/internal/table"
)

// readColumn reads column name of row group rg back as Arrow (strings, or int64 for decimals).
func readColumn(t *testing.T, pf *file.Reader, rg int, name string) arrow.Array {
	t.Helper()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	c := pf.MetaData().Schema.ColumnIndexByName(name)
	tbl, err := fr.ReadRowGroups(context.Background(), []int{c}, []int{rg})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	chunks := tbl.Column(0).Data().Chunks()
	if len(chunks) != 1 {
		t.Fatalf("%s: %d chunks", name, len(chunks))
	}
	chunks[0].Retain()
	return chunks[0]
}

// The dictionary columns' statistics are those of their rows, in every row group: readers skip row
// groups by them.
func TestDictionaryStatistics(t *testing.T) {
	_, pq := convert(t, generate(t, 100_000, 7), memory.DefaultAllocator)
	pf, err := file.NewParquetReader(bytes.NewReader(pq))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if pf.NumRowGroups() < 2 {
		t.Fatalf("%d row groups", pf.NumRowGroups())
	}
	for rg := range pf.NumRowGroups() {
		for _, c := range table.Columns {
			if !c.Dict {
				continue
			}
			md, err := pf.MetaData().RowGroup(rg).ColumnChunk(pf.MetaData().Schema.ColumnIndexByName(c.Name))
			if err != nil {
				t.Fatal(err)
			}
			if !md.HasDictionaryPage() {
				t.Errorf("row group %d, %s: no dictionary page", rg, c.Name)
			}
			stats, err := md.Statistics()
			if err != nil || stats == nil {
				t.Fatalf("row group %d, %s: no statistics (%v)", rg, c.Name, err)
			}
			arr := readColumn(t, pf, rg, c.Name)
			var gotMin, gotMax, wantMin, wantMax string
			switch s := stats.(type) {
			case *metadata.ByteArrayStatistics:
				gotMin, gotMax = string(s.Min()), string(s.Max())
				var vals []string
				for i := range arr.Len() {
					if arr.IsValid(i) {
						vals = append(vals, arr.(*array.String).Value(i))
					}
				}
				if len(vals) > 0 {
					wantMin, wantMax = slices.Min(vals), slices.Max(vals)
				}
			case *metadata.Int64Statistics:
				gotMin, gotMax = fmt.Sprint(s.Min()), fmt.Sprint(s.Max())
				var vals []int64
				for i := range arr.Len() {
					if !arr.IsValid(i) {
						continue
					}
					switch a := arr.(type) {
					case *array.Int64:
						vals = append(vals, a.Value(i))
					case *array.Decimal128:
						vals = append(vals, int64(a.Value(i).LowBits()))
					default:
						t.Fatalf("%s read as %s", c.Name, arr.DataType())
					}
				}
				if len(vals) > 0 {
					wantMin, wantMax = fmt.Sprint(slices.Min(vals)), fmt.Sprint(slices.Max(vals))
				}
			case *metadata.FixedLenByteArrayStatistics: // the exchange rate, a big-endian decimal128
				num := func(b []byte) decimal128.Num {
					return decimal128.New(int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint64(b[8:]))
				}
				gotMin, gotMax = num(s.Min()).BigInt().String(), num(s.Max()).BigInt().String()
				var lo, hi *decimal128.Num
				for i := range arr.Len() {
					if !arr.IsValid(i) {
						continue
					}
					v := arr.(*array.Decimal128).Value(i)
					if lo == nil || v.Less(*lo) {
						lo = &v
					}
					if hi == nil || hi.Less(v) {
						hi = &v
					}
				}
				if lo != nil {
					wantMin, wantMax = lo.BigInt().String(), hi.BigInt().String()
				}
			default:
				t.Fatalf("%s: statistics %T", c.Name, stats)
			}
			if stats.HasMinMax() && (gotMin != wantMin || gotMax != wantMax) {
				t.Errorf("row group %d, %s: statistics [%q, %q], rows [%q, %q]", rg, c.Name, gotMin, gotMax, wantMin, wantMax)
			}
			if !stats.HasMinMax() && wantMin != "" {
				t.Errorf("row group %d, %s: no minimum and maximum", rg, c.Name)
			}
			if stats.NullCount() != int64(arr.NullN()) {
				t.Errorf("row group %d, %s: statistics count %d nulls, the rows %d", rg, c.Name, stats.NullCount(), arr.NullN())
			}
			arr.Release()
		}
	}
}

// A row group whose dictionary would pass the dictionary page limit (1 MiB) writes that column as plain
// values, which read back the same.
func TestLargeDictionaryFallsBackToPlain(t *testing.T) {
	rows, err := csv.NewReader(bytes.NewReader(generate(t, 30_000, 8))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "Payment Method")
	var want []string
	for i, r := range rows[1:] {
		r[col] = fmt.Sprintf("method-%041d", i) // 48 bytes: 30,000 of them make 1.5 MB
		want = append(want, r[col])
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, pq := convert(t, buf.Bytes(), mem)
	pf, err := file.NewParquetReader(bytes.NewReader(pq))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if pf.NumRowGroups() != 1 {
		t.Fatalf("%d row groups, want 1", pf.NumRowGroups())
	}
	md, err := pf.MetaData().RowGroup(0).ColumnChunk(pf.MetaData().Schema.ColumnIndexByName("payment_method"))
	if err != nil {
		t.Fatal(err)
	}
	if md.HasDictionaryPage() || slices.Contains(md.Encodings(), parquet.Encodings.RLEDict) || !slices.Contains(md.Encodings(), parquet.Encodings.Plain) {
		t.Errorf("payment_method: dictionary page %v, encodings %v; want plain values only", md.HasDictionaryPage(), md.Encodings())
	}
	arr := readColumn(t, pf, 0, "payment_method")
	defer arr.Release()
	if arr.Len() != len(want) {
		t.Fatalf("%d rows, want %d", arr.Len(), len(want))
	}
	for i, w := range want {
		if got := arr.(*array.String).Value(i); got != w {
			t.Fatalf("row %d: payment_method %q, want %q", i, got, w)
		}
	}
	// The other dictionary columns keep their dictionaries.
	md, err = pf.MetaData().RowGroup(0).ColumnChunk(pf.MetaData().Schema.ColumnIndexByName("payment_method_variant"))
	if err != nil {
		t.Fatal(err)
	}
	if !md.HasDictionaryPage() {
		t.Error("payment_method_variant: no dictionary page")
	}
}
