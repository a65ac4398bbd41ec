package gen_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
)

func TestParseSequence(t *testing.T) {
	for in, want := range map[string][]int64{
		"7":           {7},
		"1-3":         {1, 2, 3},
		"1-3,5, 8-9 ": {1, 2, 3, 5, 8, 9},
	} {
		got, err := gen.ParseSequence(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSequence(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "a", "3-1", "1-3,2", "5,5", "1-", "1-200000"} {
		if got, err := gen.ParseSequence(bad); err == nil {
			t.Errorf("ParseSequence(%q) = %v, want an error", bad, got)
		}
	}
}

// A history has every merchant account's batches, a day apart (a skipped number skips its day), arriving
// the day after settlement in arrival order, the same for the same seed.
func TestHistory(t *testing.T) {
	seq, _ := gen.ParseSequence("1-3,5")
	cfg := gen.HistoryConfig{Merchants: 3, Batches: seq, Start: "2024-02-28", Seed: 9}
	h, err := gen.History(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 12 {
		t.Fatalf("%d batches, want 12", len(h))
	}
	again, _ := gen.History(cfg)
	if !reflect.DeepEqual(h, again) {
		t.Error("the same config gave another history")
	}
	dates := map[int64]string{1: "2024-02-28", 2: "2024-02-29", 3: "2024-03-01", 5: "2024-03-03"}
	seen := map[string]int{}
	for i, p := range h {
		seen[p.Merchant]++
		if p.SettlementDate != dates[p.Batch] {
			t.Errorf("%s batch %d settles %s, want %s", p.Merchant, p.Batch, p.SettlementDate, dates[p.Batch])
		}
		day, _ := time.Parse(time.DateOnly, p.SettlementDate)
		if d := p.Arrival.Sub(day); d < 30*time.Hour || d >= 36*time.Hour {
			t.Errorf("%s batch %d arrives %s after its date", p.Merchant, p.Batch, d)
		}
		if i > 0 && p.Arrival.Before(h[i-1].Arrival) {
			t.Errorf("not in arrival order at %d", i)
		}
	}
	if len(seen) != 3 || seen["PaySettleShop002"] != 4 {
		t.Errorf("merchants %v", seen)
	}
	if _, err := gen.History(gen.HistoryConfig{Batches: seq, Start: "2024-13-01"}); err == nil {
		t.Error("a bad start date was accepted")
	}
	one, _ := gen.History(gen.HistoryConfig{Batches: seq})
	if one[0].Merchant != "PaySettleShopEU" || one[0].FileName() != "PaySettleShopEU_batch_1.csv" {
		t.Errorf("one merchant: %+v %s", one[0], one[0].FileName())
	}
}
