package settlement_test

import (
	"testing"

	"github.com/paysettle/settle/internal/settlement"
)

// Sums add files' totals exactly and print them with the currency's minor units; an amount that does
// not parse stops the sums and says why.
func TestSums(t *testing.T) {
	var s settlement.Sums
	s.Add(settlement.Totals{Currency: "EUR", GrossCredit: "100.10", GrossDebit: "0.20", TotalFees: "1.05", NetAmount: "-98.85", Payout: "98.85"})
	s.Add(settlement.Totals{Currency: "EUR", GrossCredit: "0.20", TotalFees: "0.01", NetAmount: "0.19", Payout: "0"})
	gross, fees, net, payout := s.Format("EUR")
	if gross != "100.10" || fees != "1.06" || net != "0.19" || payout != "98.85" || s.Err != nil {
		t.Errorf("EUR: %s %s %s %s %v", gross, fees, net, payout, s.Err)
	}
	var jpy settlement.Sums
	jpy.Add(settlement.Totals{Currency: "JPY", GrossCredit: "3158", TotalFees: "38"})
	if gross, fees, _, _ := jpy.Format("JPY"); gross != "3158" || fees != "38" {
		t.Errorf("JPY: %s %s, want no minor units", gross, fees)
	}
	var bad settlement.Sums
	bad.Add(settlement.Totals{Currency: "EUR", GrossCredit: "12,50", TotalFees: "1.00"})
	if bad.Err == nil || bad.Fees != 0 {
		t.Errorf("an unparseable amount: err %v, fees %v; want the error and nothing added after it", bad.Err, bad.Fees)
	}
}
