package parquetfile_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// writeFixture converts a settlement fixture to Parquet, in record batches of 4 rows to cover the batch
// boundaries, with a leak-checked allocator.
func writeFixture(t *testing.T, name string, mem memory.Allocator) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "settlement", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := settlement.NewReader(bytes.NewReader(data), settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	pw, err := parquetfile.NewWriter(&out, parquetfile.Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	var b *table.Builder
	flush := func() {
		rec := b.NewRecordBatch()
		if err := pw.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !row.Valid() {
			continue
		}
		if b == nil {
			b = table.NewBuilder(mem, table.Source{Provider: "adyen", Key: "incoming/" + name, ETag: "5d41402abc4b2a76b9719d911017c592"},
				settlement.NewRecordIDs("adyen", string(row.MerchantAccount), row.BatchNumber))
		}
		b.Append(row)
		if b.Len() == 4 {
			flush()
		}
	}
	flush()
	b.Release()
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/table -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file; got:\n%s", name, got)
	}
}

// TestGolden dumps the Parquet of each fixture to JSON Lines and compares it with the golden file: the
// values, nulls, decimals, timestamps and ids a user's queries see.
func TestGolden(t *testing.T) {
	for _, name := range []string{"default30.csv", "booking.csv", "layout49.csv", "quirks.csv"} {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			pq := writeFixture(t, name, mem)
			var dump bytes.Buffer
			if err := // The dump reads with Go-managed memory: arrow-go v18.8.0's DELTA_BINARY_PACKED decoder does not
				// release a 64-byte block buffer, a reader-side leak the checked allocator would report against the
				// writer under test.
				parquetfile.Dump(bytes.NewReader(pq), nil, func(line []byte) error {
					dump.Write(line)
					dump.WriteByte('\n')
					return nil
				}); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(name, ".csv")+".jsonl", dump.Bytes())
		})
	}
}

// TestParquetLayout pins the physical layout: names, order, physical and logical types, required vs
// optional, each column's encodings and compression, and which carry statistics.
func TestParquetLayout(t *testing.T) {
	pq := writeFixture(t, "default30.csv", memory.DefaultAllocator)
	cols, rows, err := parquetfile.Columns(bytes.NewReader(pq))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 11 {
		t.Errorf("rows = %d", rows)
	}
	golden(t, "layout.txt", []byte(strings.Join(cols, "\n")+"\n"))
	for i, c := range table.Columns {
		if !strings.HasPrefix(cols[i], c.Name+" ") {
			t.Errorf("column %d is %q, want %s", i, cols[i], c.Name)
		}
	}
}
