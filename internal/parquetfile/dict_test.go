package parquetfile_test

import (
	"bytes"
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

	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
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
	tbl, err := fr.ReadRowGroups(t.Context(), []int{c}, []int{rg})
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

// dataPages counts the data pages of column name in row group rg.
func dataPages(t *testing.T, pf *file.Reader, rg int, name string) int {
	t.Helper()
	pr, err := pf.RowGroup(rg).GetColumnPageReader(pf.MetaData().Schema.ColumnIndexByName(name))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for pr.Next() {
		if _, ok := pr.Page().(file.DataPage); ok {
			n++
		}
	}
	if err := pr.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// The dictionary columns' statistics are those of their rows, in every row group: readers skip row
// groups by them.
func TestDictionaryStatistics(t *testing.T) {
	_, pq := convert(t, generate(t, 100_000, 7), memory.DefaultAllocator)
	checkDictionaryChunks(t, pq)
}

// checkDictionaryChunks checks every dictionary column chunk of a file: a dictionary page and one data
// page (the writer sets the chunk's statistics on that page), and minimum, maximum and null count those
// of the chunk's rows.
func checkDictionaryChunks(t *testing.T, pq []byte) {
	t.Helper()
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
			if n := dataPages(t, pf, rg, c.Name); n != 1 {
				t.Errorf("row group %d, %s: %d data pages, want 1 (the chunk's statistics are set on its page)", rg, c.Name, n)
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
// values, which read back the same, nulls included.
func TestLargeDictionaryFallsBackToPlain(t *testing.T) {
	rows, err := csv.NewReader(bytes.NewReader(generate(t, 36_000, 8))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "Payment Method")
	var want []string
	for i, r := range rows[1:] {
		r[col] = fmt.Sprintf("method-%041d", i) // 48 bytes: 24,000 of them make 1.15 MB
		if i%3 == 0 {
			r[col] = "" // null
		}
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
		if got := arr.(*array.String).Value(i); got != w || arr.IsNull(i) != (w == "") {
			t.Fatalf("row %d: payment_method %q (null %v), want %q", i, got, arr.IsNull(i), w)
		}
	}
	if arr.NullN() != len(want)/3 {
		t.Errorf("%d nulls, want %d", arr.NullN(), len(want)/3)
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

// acrossBatchesRow is row i of TestDictionaryColumnsAcrossBatches: a payment method null in the whole
// first row group and then values longer than the builder's 24-byte keys among nulls, an empty required
// company account, negative fees that are null in the last row groups, a few exchange rates among
// nulls, and a batch number that changes inside a row group.
func acrossBatchesRow(i int) settlement.Row {
	r := settlement.Row{Line: int64(i + 2), MerchantAccount: []byte("M"), Type: []byte("Settled"), CreationZone: []byte("CET"), BatchNumber: int64(i / 5000)}
	if i >= 3000 {
		switch i % 4 {
		case 0:
		case 1:
			r.PaymentMethod = fmt.Appendf(nil, "a long payment method over 24 bytes %d", i%37)
		default:
			r.PaymentMethod = fmt.Appendf(nil, "pm%d", i%13)
		}
	}
	if i%3 != 0 {
		r.CompanyAccount = []byte("Co")
	}
	if i%7 != 0 && i < 6000 {
		r.Markup = money.NullAmount{V: money.Amount((i%50 - 25) * 10), Valid: true}
	}
	if i%5 == 1 {
		r.ExchangeRate = money.NullRate{V: money.Rate{Lo: uint64(i % 9)}, Valid: true}
	}
	return r
}

// Batches of 1,700 rows cut across row groups of 3,000, so the writer sees dictionary columns as slices
// of batches and merges several batches' dictionaries into a row group's: every row reads back as it
// was built, and every chunk's statistics are its rows'.
func TestDictionaryColumnsAcrossBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 11_000
	var out bytes.Buffer
	pw, err := parquetfile.NewWriter(&out, parquetfile.Options{RowGroupRows: 3000, Workers: 2, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	b := table.NewBuilder(mem, table.Source{Provider: "adyen", Key: "k", ETag: "e"}, settlement.NewRecordIDs("adyen", "M", 1))
	want := map[string][]string{}
	for i := range n {
		r := acrossBatchesRow(i)
		if err := b.Append(&r); err != nil {
			t.Fatal(err)
		}
		if (i+1)%1700 != 0 && i != n-1 {
			continue
		}
		rec := b.NewRecordBatch()
		for j, c := range table.Columns {
			if !c.Dict {
				continue
			}
			col := rec.Column(j).(*array.Dictionary)
			for k := range col.Len() {
				v := "<null>"
				if col.IsValid(k) {
					v = col.Dictionary().ValueStr(col.GetValueIndex(k))
				}
				want[c.Name] = append(want[c.Name], v)
			}
		}
		err := pw.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Release()
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for name, w := range want {
		var got []string
		for rg := range pf.NumRowGroups() {
			arr := readColumn(t, pf, rg, name)
			for k := range arr.Len() {
				v := "<null>"
				if arr.IsValid(k) {
					v = arr.ValueStr(k)
				}
				got = append(got, v)
			}
			arr.Release()
		}
		if len(got) != n {
			t.Fatalf("%s: %d rows, want %d", name, len(got), n)
		}
		for k := range got {
			if got[k] != w[k] {
				t.Fatalf("%s, row %d: %q, built %q", name, k, got[k], w[k])
			}
		}
	}
	if len(want) < 10 {
		t.Fatalf("%d dictionary columns compared", len(want))
	}
	checkDictionaryChunks(t, out.Bytes())
}
