package settlement

import "github.com/paysettle/settle/internal/money"

// Sums are files' totals in one currency as an operator reads them: gross (credit − debit, of the rows
// with this gross currency), fees, net (what the rows other than payouts settled) and payout (of the
// rows with this net currency). Exact decimals; Err is the first amount that could not be added.
type Sums struct {
	Gross, Fees, Net, Payout money.Amount
	Err                      error
}

// Add adds one file's totals in the currency.
func (s *Sums) Add(t Totals) {
	add := func(dst *money.Amount, v string, negate bool) {
		if v == "" || s.Err != nil {
			return
		}
		a, err := money.ParseAmount([]byte(v), money.Scale, true)
		if negate {
			a = -a
		}
		if err == nil {
			*dst, err = money.Add(*dst, a)
		}
		s.Err = err
	}
	add(&s.Gross, t.GrossCredit, false)
	add(&s.Gross, t.GrossDebit, true)
	add(&s.Fees, t.TotalFees, false)
	// NetAmount sums every row, the payout's debit included: what the other rows settled is that plus
	// the payout (equal to the payout when the batch balances).
	add(&s.Net, t.NetAmount, false)
	add(&s.Net, t.Payout, false)
	add(&s.Payout, t.Payout, false)
}

// Format is the four sums with the currency's minor units (two for a code money does not know).
func (s *Sums) Format(currency string) (gross, fees, net, payout string) {
	digits, err := money.MinorUnits([]byte(currency))
	if err != nil {
		digits = 2
	}
	return s.Gross.Format(digits), s.Fees.Format(digits), s.Net.Format(digits), s.Payout.Format(digits)
}
