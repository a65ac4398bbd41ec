package parquetfile_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

// rowGroupText returns the rows and the bytes of string values of each row group of a Parquet file
// (the text columns of table.Columns: the one-value columns are not).
func rowGroupText(t *testing.T, pq []byte) (rows, text []int64) {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(pq))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]int, pf.MetaData().Schema.NumColumns())
	for i := range cols {
		cols[i] = i
	}
	for i := range pf.NumRowGroups() {
		tbl, err := fr.ReadRowGroups(t.Context(), cols, []int{i})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for c := range int(tbl.NumCols()) {
			i := table.Schema.FieldIndices(tbl.Schema().Field(c).Name)
			if len(i) != 1 || !table.Columns[i[0]].Text() {
				continue
			}
			for _, chunk := range tbl.Column(c).Data().Chunks() {
				o := chunk.(*array.String).ValueOffsets()
				n += int64(o[len(o)-1] - o[0])
			}
		}
		rows, text = append(rows, tbl.NumRows()), append(text, n)
		tbl.Release()
	}
	return rows, text
}

// TestRowGroupBytes: a row group ends when the next row would take its text past RowGroupBytes, at the
// same row whatever the record batches, so memory is bounded for long rows too; the default leaves a
// generated report's row groups to the row limit.
func TestRowGroupBytes(t *testing.T) {
	csv := generate(t, 3_000, 4)
	convert := func(block int, opts parquetfile.Options) []byte {
		var out bytes.Buffer
		pw, err := parquetfile.NewWriter(&out, opts)
		if err != nil {
			t.Fatal(err)
		}
		job := settlement.Job{ParallelOptions: settlement.ParallelOptions{BlockBytes: block}, Key: "k", ETag: "e"}
		if _, err := table.Stage(bytes.NewReader(csv), pw, job, nil); err != nil {
			t.Fatal(err)
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	const budget = 40 << 10
	small := convert(16<<10, parquetfile.Options{RowGroupBytes: budget, RowGroupRows: 1000})
	if !bytes.Equal(small, convert(256<<10, parquetfile.Options{RowGroupBytes: budget, RowGroupRows: 1000})) {
		t.Error("row groups depend on the record batches")
	}
	rows, text := rowGroupText(t, small)
	var total int64
	for i := range rows {
		total += rows[i]
		if text[i] > budget || rows[i] >= 1000 {
			t.Errorf("row group %d: %d rows, %d bytes of text; limits 1000 rows, %d bytes", i, rows[i], text[i], budget)
		}
		if i < len(rows)-1 && text[i] < budget*9/10 {
			t.Errorf("row group %d ends early: %d bytes of text", i, text[i])
		}
	}
	if total != 3_000 || len(rows) < 5 {
		t.Errorf("%d rows in %d row groups", total, len(rows))
	}
	rows, _ = rowGroupText(t, convert(1<<20, parquetfile.Options{RowGroupRows: 1000}))
	if len(rows) != 3 || rows[0] != 1000 {
		t.Errorf("default byte limit: row groups of %v rows, want 1000 each", rows)
	}
}
