package parquetfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
)

func generate(t testing.TB, rows int, seed uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Rows: rows, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// convert runs the validate and transform steps' work in memory and returns the validation report and the Parquet bytes.
func convert(t testing.TB, csv []byte, mem memory.Allocator) (*settlement.Report, []byte) {
	t.Helper()
	rep, err := settlement.ValidateReport(bytes.NewReader(csv), settlement.Options{}, settlement.DefaultPolicy(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	counts, err := parquetfile.FromReport(bytes.NewReader(csv), &out,
		settlement.Job{Key: "incoming/report.csv", ETag: "0123456789abcdef0123456789abcdef", RowGroupRows: 40_000}, mem)
	if err != nil {
		t.Fatal(err)
	}
	if counts != rep.Counts {
		t.Fatalf("transform counts %+v != validate counts %+v", counts, rep.Counts)
	}
	return rep, out.Bytes()
}

// TestExactSums checks, on a generated 100k-row report, that per-currency sums of the CSV (computed by
// the validator with integer arithmetic) equal sums recomputed from the Parquet output, to the last digit.
func TestExactSums(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rep, pq := convert(t, generate(t, 100_000, 42), mem)

	type acc struct{ grossDebit, grossCredit, netDebit, netCredit, fees, net money.Amount }
	sums := map[string]*acc{}
	get := func(c string) *acc {
		if sums[c] == nil {
			sums[c] = &acc{}
		}
		return sums[c]
	}
	add := func(dst *money.Amount, v any) {
		if v == nil {
			return
		}
		a, err := money.ParseAmount([]byte(v.(string)), 3, true)
		if err != nil {
			t.Fatalf("parquet decimal %q: %v", v, err)
		}
		*dst += a
	}
	rows := 0
	err := // The dump reads with Go-managed memory: arrow-go v18.8.0's DELTA_BINARY_PACKED decoder does not
		// release a 64-byte block buffer, a reader-side leak the checked allocator would report against the
		// writer under test.
		parquetfile.Dump(bytes.NewReader(pq), nil, func(line []byte) error {
			var r map[string]any
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			rows++
			if c, ok := r["gross_currency"].(string); ok {
				add(&get(c).grossDebit, r["gross_debit"])
				add(&get(c).grossCredit, r["gross_credit"])
			}
			if c, ok := r["net_currency"].(string); ok {
				add(&get(c).netDebit, r["net_debit"])
				add(&get(c).netCredit, r["net_credit"])
				add(&get(c).fees, r["total_fees"])
				add(&get(c).net, r["net_amount"])
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if int64(rows) != rep.Counts.Valid || rows != 100_000 {
		t.Fatalf("parquet has %d rows, want %d", rows, rep.Counts.Valid)
	}
	for _, tot := range rep.Currencies {
		got := sums[tot.Currency]
		if got == nil {
			t.Fatalf("currency %s missing from parquet", tot.Currency)
		}
		minor, _ := money.MinorUnits([]byte(tot.Currency))
		for _, c := range []struct {
			name string
			csv  string
			pq   money.Amount
		}{
			{"gross_debit", tot.GrossDebit, got.grossDebit}, {"gross_credit", tot.GrossCredit, got.grossCredit},
			{"net_debit", tot.NetDebit, got.netDebit}, {"net_credit", tot.NetCredit, got.netCredit},
			{"total_fees", tot.TotalFees, got.fees}, {"net_amount", tot.NetAmount, got.net},
		} {
			if c.pq.Format(minor) != c.csv {
				t.Errorf("%s %s: csv %s, parquet %s", tot.Currency, c.name, c.csv, c.pq.Format(minor))
			}
		}
	}
}

// BenchmarkCSVToParquet: all three steps in memory on a 1M-row report, MB/s of CSV.
func BenchmarkCSVToParquet(b *testing.B) {
	csv := generate(b, 1_000_000, 1)
	b.SetBytes(int64(len(csv)))
	b.ResetTimer()
	for b.Loop() {
		convert(b, csv, memory.DefaultAllocator)
	}
}

// TestGeneratedDumpIsStable pins the rows of a generated 100k-row report as the SHA-256 of their JSON
// dump (the same form as the golden files). Encoding and performance work must not change a single value:
// only the Parquet bytes may differ, never the rows a reader gets.
func TestGeneratedDumpIsStable(t *testing.T) {
	_, pq := convert(t, generate(t, 100_000, 42), memory.DefaultAllocator)
	h := sha256.New()
	rows := 0
	if err := parquetfile.Dump(bytes.NewReader(pq), nil, func(line []byte) error {
		rows++
		h.Write(line)
		h.Write([]byte{'\n'})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const want = "e761c7b35a917ff2dd63fabde3dc93f1fe32d14895dc09ea6f6aa6b405e1b7bc"
	if got := hex.EncodeToString(h.Sum(nil)); got != want || rows != 100_000 {
		t.Errorf("dump of %d rows hashes to %s, want %s", rows, got, want)
	}
}

// TestOutputIsDeterministic: the same report gives the same Parquet bytes every time, whatever the
// number of the parallel reader's workers (GOMAXPROCS by default) and their timing (small blocks make
// many cuts and buffer reuses).
func TestOutputIsDeterministic(t *testing.T) {
	csv := generate(t, 20_000, 3)
	var first []byte
	for i, workers := range []int{1, 2, 2, 3, 8} {
		var out bytes.Buffer
		job := settlement.Job{ParallelOptions: settlement.ParallelOptions{Workers: workers, BlockBytes: 5000}, Key: "k", ETag: "e", RowGroupRows: 3000}
		if _, err := parquetfile.FromReport(bytes.NewReader(csv), &out, job, nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out.Bytes()
		} else if !bytes.Equal(out.Bytes(), first) {
			t.Fatalf("run %d (%d workers) wrote %d bytes that differ from the first run's %d (1 worker)", i+1, workers, out.Len(), len(first))
		}
	}
}
