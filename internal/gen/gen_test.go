package gen_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/settlement"
)

// A generated report is what the generator promises: a valid, balanced report of the asked batch,
// settlement date and size, the same bytes for the same seed.
func TestGeneratedReportValidates(t *testing.T) {
	for _, cfg := range []gen.Config{
		{Rows: 1, Seed: 1},
		{Rows: 500, Seed: 2, Merchant: "Shop_Ü", Batch: 9, SettlementDate: "2024-02-29", Zone: "PST"},
		{Rows: 20_000, Seed: 3},
	} {
		var buf bytes.Buffer
		sum, err := gen.Write(&buf, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Bytes != int64(buf.Len()) {
			t.Errorf("%+v: summary says %d bytes, wrote %d", cfg, sum.Bytes, buf.Len())
		}
		rep, err := settlement.ValidateReport(bytes.NewReader(buf.Bytes()), settlement.Options{}, settlement.DefaultPolicy(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Counts.Rejected != 0 {
			t.Errorf("%+v: not a valid balanced report: %v", cfg, rep.Problems())
		}
		if rep.Counts.DataRows != int64(sum.Rows) || (cfg.Rows > 10 && sum.Rows != cfg.Rows) {
			t.Errorf("%+v: %d data rows, summary %d", cfg, rep.Counts.DataRows, sum.Rows)
		}
		wantBatch, wantDate, wantMerchant := cfg.Batch, cfg.SettlementDate, cfg.Merchant
		if wantBatch == 0 {
			wantBatch = 142
		}
		if wantDate == "" {
			wantDate = "2024-05-03"
		}
		if wantMerchant == "" {
			wantMerchant = "PaySettleShopEU"
		}
		if rep.BatchNumber != wantBatch || rep.SettlementDate != wantDate || rep.MerchantAccount != wantMerchant || sum.SettlementDate != wantDate {
			t.Errorf("%+v: batch %d, date %s, merchant %s", cfg, rep.BatchNumber, rep.SettlementDate, rep.MerchantAccount)
		}
		var again bytes.Buffer
		if _, err := gen.Write(&again, cfg); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), buf.Bytes()) {
			t.Errorf("%+v: the same seed wrote different bytes", cfg)
		}
	}
}

func TestGenerateRefusesABadDate(t *testing.T) {
	if _, err := gen.Write(io.Discard, gen.Config{Rows: 5, SettlementDate: "03/05/2024"}); err == nil {
		t.Error("a settlement date that is not YYYY-MM-DD was accepted")
	}
}
