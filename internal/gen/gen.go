// Package gen writes realistic, balanced Adyen settlement details reports of any size, for tests,
// benchmarks and demos. One file is one batch of one merchant account: payments, refunds, chargebacks and
// their reversals, fees and misc costs across several net currencies (including JPY, with no minor unit,
// and KWD, with three), cross-currency rows with 15-decimal exchange rates, quoted references with commas
// and quotes, and one MerchantPayout per net currency that makes the batch balance to the cent.
//
// Amounts are computed in integer minor units, so the generated report is exact by construction.
package gen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/settlement"
)

// Config describes a report.
type Config struct {
	Rows           int    // data rows, payout rows included (at least one per currency is added when needed)
	Seed           uint64 // same seed, same bytes
	Company        string
	Merchant       string
	Batch          int64
	SettlementDate string // YYYY-MM-DD: the payout rows' date; other rows fall in the days before
	Zone           string // time-zone abbreviation written in TimeZone
}

// Defaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Company == "" {
		c.Company = "PaySettleCompany"
	}
	if c.Merchant == "" {
		c.Merchant = "PaySettleShopEU"
	}
	if c.Batch == 0 {
		c.Batch = 142
	}
	if c.SettlementDate == "" {
		c.SettlementDate = "2024-05-03"
	}
	if c.Zone == "" {
		c.Zone = "CEST"
	}
	return c
}

// Summary describes what was written.
type Summary struct {
	Rows           int
	Bytes          int64
	SettlementDate string
}

type currency struct {
	code  string
	scale int   // minor units
	lo    int64 // gross range in minor units
	hi    int64
	share int // weight among net currencies
}

var netCurrencies = []currency{
	{"EUR", 2, 500, 50_000, 60},
	{"USD", 2, 500, 60_000, 15},
	{"GBP", 2, 500, 40_000, 10},
	{"JPY", 0, 500, 50_000, 10},
	{"KWD", 3, 1_000, 150_000, 5},
}

// cross-currency shopper currencies and indicative rates to the net currency, 15 decimals.
var crossRates = map[string][]struct {
	code string
	rate string
}{
	"EUR": {{"USD", "0.921734587632511"}, {"SEK", "0.087512349876543"}, {"CHF", "1.023456789012345"}},
	"USD": {{"EUR", "1.084908763423190"}, {"CAD", "0.731209876543210"}},
	"GBP": {{"EUR", "0.853412098765432"}},
	"JPY": {{"USD", "151.234567890123456"}},
	"KWD": {{"USD", "0.307654321098765"}},
}

type kind struct {
	typ    string
	weight int
	debit  bool // money leaves the merchant (refunds, chargebacks)
	gross  bool // has gross amounts
}

var kinds = []kind{
	{"Settled", 780, false, true},
	{"Refunded", 90, true, true},
	{"Chargeback", 12, true, true},
	{"ChargebackReversed", 4, false, true},
	{"SecondChargeback", 1, true, true},
	{"RefundedReversed", 2, false, true},
	{"Fee", 6, true, false},
	{"MiscCosts", 3, true, false},
	{"DepositCorrection", 1, false, false},
	{"InvoiceDeduction", 1, true, false},
}

var methods = []struct{ method, variants string }{
	{"visa", "visacredit visadebit visapremiumcredit visacorporatecredit"},
	{"mc", "mccredit mcdebit mcpremiumcredit"},
	{"amex", "amex"},
	{"ideal", "ideal"},
	{"klarna", "klarna klarna_account"},
	{"paypal", "paypal"},
}

// Write writes a report to w.
func Write(w io.Writer, cfg Config) (Summary, error) {
	cfg = cfg.withDefaults()
	day, err := time.Parse("2006-01-02", cfg.SettlementDate)
	if err != nil {
		return Summary{}, fmt.Errorf("settlement date %q: want YYYY-MM-DD", cfg.SettlementDate)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 256<<10)
	bw.WriteString(strings.Join(settlement.DefaultHeader, ",") + "\r\n")

	regular := cfg.Rows - len(netCurrencies)
	if regular < 0 {
		regular = 0
	}
	totalShare, totalWeight := 0, 0
	for _, c := range netCurrencies {
		totalShare += c.share
	}
	for _, k := range kinds {
		totalWeight += k.weight
	}
	balance := map[string]int64{} // net minor units: credit − debit of non-payout rows
	var line []byte
	for i := 0; i < regular; i++ {
		// The first rows settle one payment in every currency so that each has a payout.
		var cur currency
		if i < len(netCurrencies) {
			cur = netCurrencies[i]
		} else {
			cur = pickCurrency(rng, totalShare)
		}
		k := kinds[0]
		if i >= len(netCurrencies) {
			k = pickKind(rng, totalWeight)
		}
		created := day.Add(-time.Duration(1+rng.IntN(3)) * 24 * time.Hour).Add(time.Duration(rng.IntN(86400)) * time.Second)
		line = appendRow(line[:0], rng, cfg, i, cur, k, created, balance)
		bw.Write(line)
	}

	sum := Summary{SettlementDate: cfg.SettlementDate}
	codes := make([]string, 0, len(netCurrencies))
	for _, c := range netCurrencies {
		codes = append(codes, c.code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		cur := find(code)
		bal := balance[code]
		payoutAt := day.Add(time.Duration(6*3600+rng.IntN(3600)) * time.Second)
		var debit, credit string
		if bal >= 0 {
			debit = format(bal, cur.scale)
		} else {
			credit = format(-bal, cur.scale)
		}
		line = line[:0]
		line = appendFields(line, cfg.Company, cfg.Merchant, "", "", "", payoutAt.Format("2006-01-02 15:04:05"), cfg.Zone,
			"MerchantPayout", "", "", "", "", "", code, debit, credit, "", "", "", "", "", "", strconv.FormatInt(cfg.Batch, 10),
			"", "", "", "", "", "", "")
		bw.Write(line)
	}
	if err := bw.Flush(); err != nil {
		return Summary{}, err
	}
	sum.Rows = regular + len(codes)
	sum.Bytes = cw.n
	return sum, nil
}

func find(code string) currency {
	for _, c := range netCurrencies {
		if c.code == code {
			return c
		}
	}
	panic("gen: unknown currency " + code)
}

func pickCurrency(rng *rand.Rand, total int) currency {
	n := rng.IntN(total)
	for _, c := range netCurrencies {
		if n < c.share {
			return c
		}
		n -= c.share
	}
	return netCurrencies[0]
}

func pickKind(rng *rand.Rand, total int) kind {
	n := rng.IntN(total)
	for _, k := range kinds {
		if n < k.weight {
			return k
		}
		n -= k.weight
	}
	return kinds[0]
}

var references = []string{
	`Order %d`, `ORD-%d`, `Order %d, gift wrap`, `Order %d "express"`, `web-%d`, `INV %d; split`,
}

func appendRow(b []byte, rng *rand.Rand, cfg Config, i int, cur currency, k kind, created time.Time, balance map[string]int64) []byte {
	psp := strconv.FormatInt(8_800_000_000_000_000+int64(i)*7919%1_000_000_000_000_000, 10)
	m := methods[rng.IntN(len(methods))]
	variants := strings.Fields(m.variants)
	variant := variants[rng.IntN(len(variants))]
	ref := fmt.Sprintf(references[rng.IntN(len(references))], 100000+i)
	modRef := ""
	modMerchantRef := ""
	if k.typ != "Settled" {
		modRef = strconv.FormatInt(9_900_000_000_000_000+int64(i), 10)
		if rng.IntN(3) == 0 {
			modMerchantRef = "mod-" + strconv.Itoa(i)
		}
	}

	var grossCur, grossDebit, grossCredit, rate string
	var netDebit, netCredit, commission, markup, scheme, interchange string
	var net int64 // net credit − debit, minor units of the net currency

	if k.gross {
		grossAmt := cur.lo + rng.Int64N(cur.hi-cur.lo)
		// fees in net minor units: markup 0.6%, scheme 0.2%, interchange 0.3%, commission 0.12 fixed-ish
		mk := grossAmt * 6 / 1000
		sc := grossAmt * 2 / 1000
		ic := grossAmt * 3 / 1000
		cm := int64(0)
		if cur.scale > 0 {
			cm = int64(rng.IntN(3)) * pow(cur.scale-1)
		}
		if k.typ == "RefundedReversed" && rng.IntN(2) == 0 {
			cm = -cm // a fee credited back
		}
		fees := mk + sc + ic + cm
		cross := rng.IntN(10) == 0 && len(crossRates[cur.code]) > 0
		if cross {
			cr := crossRates[cur.code][rng.IntN(len(crossRates[cur.code]))]
			grossCur, rate = cr.code, cr.rate
			// The shopper's amount in its own currency (2 decimals for every cross currency here):
			// net major units ÷ rate, in integers (the rate's first six decimals are plenty for realism).
			shopper := grossAmt * 100 / pow(cur.scale) * 1_000_000 / rateMicros(cr.rate)
			if shopper == 0 {
				shopper = 1
			}
			if k.debit {
				grossDebit = format(shopper, 2)
			} else {
				grossCredit = format(shopper, 2)
			}
		} else {
			grossCur, rate = cur.code, "1"
			if k.debit {
				grossDebit = format(grossAmt, cur.scale)
			} else {
				grossCredit = format(grossAmt, cur.scale)
			}
		}
		if k.debit {
			net = -(grossAmt + fees)
			netDebit = format(grossAmt+fees, cur.scale)
		} else {
			net = grossAmt - fees
			netCredit = format(grossAmt-fees, cur.scale)
		}
		commission, markup, scheme, interchange = formatFee(cm, cur.scale), format(mk, cur.scale), format(sc, cur.scale), format(ic, cur.scale)
	} else {
		amt := cur.lo/10 + rng.Int64N(cur.lo)
		if k.debit {
			net = -amt
			netDebit = format(amt, cur.scale)
		} else {
			net = amt
			netCredit = format(amt, cur.scale)
		}
		psp, m.method, variant = "", "", ""
		if k.typ == "Fee" {
			ref = "Transaction Fees " + cfg.SettlementDate
		}
	}
	balance[cur.code] += net
	return appendFields(b, cfg.Company, cfg.Merchant, psp, ref, m.method, created.Format("2006-01-02 15:04:05"), cfg.Zone,
		k.typ, modRef, grossCur, grossDebit, grossCredit, rate, cur.code, netDebit, netCredit, commission, markup, scheme,
		interchange, variant, modMerchantRef, strconv.FormatInt(cfg.Batch, 10), "", "", "", "", "", "", "")
}

func rateMicros(rate string) int64 {
	i, f, _ := strings.Cut(rate, ".")
	f = (f + "000000")[:6]
	n, _ := strconv.ParseInt(i+f, 10, 64)
	return max(n, 1)
}

func formatFee(v int64, scale int) string {
	if v == 0 {
		return ""
	}
	return format(v, scale)
}

func pow(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// format writes minor units as a decimal with scale digits; Adyen omits the leading zero (".91").
func format(v int64, scale int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	if scale > 0 {
		for len(s) <= scale {
			s = "0" + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
		if strings.HasPrefix(s, "0.") {
			s = s[1:]
		}
	}
	if neg {
		s = "-" + s
	}
	return s
}

// appendFields writes one CSV record, quoting fields that need it.
func appendFields(b []byte, fields ...string) []byte {
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		if strings.ContainsAny(f, ",\"\r\n") {
			b = append(b, '"')
			b = append(b, strings.ReplaceAll(f, `"`, `""`)...)
			b = append(b, '"')
		} else {
			b = append(b, f...)
		}
	}
	return append(b, '\r', '\n')
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
