package settlement_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/paysettle/settle/internal/gen"
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

// validateAll reads a whole report and returns its validation report.
func validateAll(t testing.TB, data []byte, p settlement.Policy) *settlement.Report {
	t.Helper()
	rd, err := settlement.NewReader(bytes.NewReader(data), settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := settlement.NewValidator(rd.Layout().Provider, p)
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.Valid() {
			v.Add(row)
		} else {
			v.Reject(row)
		}
	}
	return v.Report(rd.Counts())
}

func TestGeneratedReportIsValidAndBalanced(t *testing.T) {
	for _, rows := range []int{5, 6, 50, 5000} {
		rep := validateAll(t, generate(t, rows, uint64(rows)), settlement.DefaultPolicy())
		if !rep.OK() || rep.Counts.Rejected != 0 {
			t.Fatalf("rows=%d: report not OK: %s; sample %+v", rows, rep.Problem(), rep.RejectSample)
		}
		if rep.Counts.DataRows != int64(max(rows, 5)) {
			t.Errorf("rows=%d: data rows = %d", rows, rep.Counts.DataRows)
		}
		for _, w := range rep.Warnings {
			t.Errorf("rows=%d: unexpected warning %+v", rows, w)
		}
		if rep.SettlementDate != "2024-05-03" || rep.BatchNumber != 142 || rep.MerchantAccount != "PaySettleShopEU" {
			t.Errorf("rows=%d: date/batch/merchant = %s/%d/%s", rows, rep.SettlementDate, rep.BatchNumber, rep.MerchantAccount)
		}
	}
}

func BenchmarkParseValidate(b *testing.B) {
	data := generate(b, 200_000, 7)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		validateAll(b, data, settlement.DefaultPolicy())
	}
}
