package settlement

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/paysettle/settle/internal/money"
)

// Policy holds the validation knobs.
type Policy struct {
	// MaxRejected is how many rejected rows a file may have and still be published without them.
	// 0 (the default) means finance gets complete batches or nothing.
	MaxRejected int64 `json:"max_rejected"`
	// BalanceCheck makes an unbalanced batch a file error (the default) rather than a warning.
	BalanceCheck bool `json:"balance_check"`
}

// DefaultPolicy is strict: no rejected rows, balanced batches.
func DefaultPolicy() Policy { return Policy{MaxRejected: 0, BalanceCheck: true} }

// KnownTypes are the record types the pipeline has seen in Adyen reports. Type is an open set: other values
// are kept and counted, never fatal.
var KnownTypes = []string{
	"Settled", "Refunded", "Chargeback", "SecondChargeback", "ChargebackReversed", "RefundedReversed",
	"Fee", "MiscCosts", "MerchantPayout", "DepositCorrection", "InvoiceDeduction", "MatchedStatement",
	"ManualCorrected", "AuthorisationSchemeFee", "BankInstructionReturned", "InternalCompanyPayout",
	"PaymentCost", "Balancetransfer", "EpaPaid", "PaidOut", "PaidOutReversed", "SettledBulk", "RefundedBulk",
	"ChargebackReversedBulk", "SecondChargebackReversed", "ReserveAdjustment", "Reserve",
}

var knownType = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range KnownTypes {
		m[t] = true
	}
	return m
}()

// FileError is a rule broken by the file as a whole.
type FileError struct {
	Rule     string `json:"rule"` // batch_number, merchant_account, balance, sum_overflow
	Message  string `json:"message"`
	Currency string `json:"currency,omitempty"`
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
}

// Warning is a rule that is reported but does not stop the file.
type Warning struct {
	Rule    string  `json:"rule"` // fee_identity, no_payout, balance (when the check is off)
	Message string  `json:"message"`
	Count   int64   `json:"count"`
	Lines   []int64 `json:"lines,omitempty"` // the first few lines concerned
}

// Totals are exact sums per currency, as decimal strings with the currency's minor units. Gross amounts
// are summed under the gross currency, net amounts and fees under the net currency.
type Totals struct {
	Currency    string `json:"currency"`
	GrossRows   int64  `json:"gross_rows"`
	NetRows     int64  `json:"net_rows"`
	GrossDebit  string `json:"gross_debit"`
	GrossCredit string `json:"gross_credit"`
	NetDebit    string `json:"net_debit"`
	NetCredit   string `json:"net_credit"`
	Commission  string `json:"commission"`
	Markup      string `json:"markup"`
	SchemeFees  string `json:"scheme_fees"`
	Interchange string `json:"interchange"`
	NetAmount   string `json:"net_amount"`
	TotalFees   string `json:"total_fees"`
	Payout      string `json:"payout"` // Σ (net debit − net credit) of MerchantPayout rows
}

// Report is the validation report of one file.
type Report struct {
	Provider           string           `json:"provider"`
	CompanyAccount     string           `json:"company_account"`
	MerchantAccount    string           `json:"merchant_account"`
	BatchNumber        int64            `json:"batch_number"`
	SettlementDate     string           `json:"settlement_date"`
	SettlementDateRule string           `json:"settlement_date_rule"`
	Counts             Counts           `json:"counts"`
	Policy             Policy           `json:"policy"`
	Currencies         []Totals         `json:"currencies"`
	Types              map[string]int64 `json:"types"`                   // valid rows by record type; OtherTypes counts the types not listed
	UnknownTypes       []string         `json:"unknown_types,omitempty"` // the listed types that are not KnownTypes
	FileErrors         []FileError      `json:"file_errors,omitempty"`
	Warnings           []Warning        `json:"warnings,omitempty"`
	RejectSample       []Reject         `json:"reject_sample,omitempty"` // the first rejected rows, raw text clipped; all are in the rejects file
}

// OK reports whether the file may be published: no file errors and no more rejected rows than allowed.
func (r *Report) OK() bool {
	return len(r.FileErrors) == 0 && r.Counts.Rejected <= r.Policy.MaxRejected
}

// Problems says why the file may not be published: too many rejected rows (with the first one's line
// and reason) and each file error. Empty when OK.
func (r *Report) Problems() []string {
	var p []string
	if r.Counts.Rejected > r.Policy.MaxRejected {
		msg := fmt.Sprintf("%d of %d rows rejected (at most %d allowed)", r.Counts.Rejected, r.Counts.DataRows, r.Policy.MaxRejected)
		if len(r.RejectSample) > 0 {
			rj := r.RejectSample[0]
			msg += fmt.Sprintf(", first on line %d: %s", rj.Line, rj.Reasons[0])
		}
		p = append(p, msg)
	}
	for _, e := range r.FileErrors {
		p = append(p, e.Message)
	}
	return p
}

// Problem is Problems in one line.
func (r *Report) Problem() string { return strings.Join(r.Problems(), "; ") }

const sampleLines = 10

// sampleRawBytes and sampleReasons are how much of a rejected line and of its reasons the report's
// sample shows: a settlement line is a few hundred bytes with a reason or two; the rejects file has
// every line whole, with all its reasons.
const (
	sampleRawBytes = 1024
	sampleReasons  = 10
)

type sums struct {
	grossRows, netRows                           int64
	grossDebit, grossCredit, netDebit, netCredit money.Amount
	commission, markup, schemeFees, interchange  money.Amount
	netAmount, totalFees, nonPayoutNet, payout   money.Amount
	payoutRows                                   int64
	scale                                        int
}

// Validator applies the file rules to the valid rows of one file. Its memory is bounded whatever the
// file: currencies by the ISO 4217 table (an unknown code is a row error), record types and merchant
// accounts by nameCounts, batch numbers and samples by small constants.
type Validator struct {
	policy      Policy
	provider    string
	company     string
	merchant    string
	merchants   nameCounts
	batches     map[int64]int64
	firstBatch  int64
	types       nameCounts
	currencies  map[string]*sums
	overflow    bool
	maxDate     Date
	payoutDate  Date
	payoutLine  int64
	payoutBook  bool
	maxDateLine int64
	feeCount    int64
	feeLines    []int64
	samples     []Reject
	seenRow     bool
	// The last currencies used: a file's rows mostly repeat them.
	lastCur [2]struct {
		code []byte
		s    *sums
	}
}

// NewValidator returns a validator for one file.
func NewValidator(provider string, p Policy) *Validator {
	return &Validator{
		policy: p, provider: provider,
		merchants: newNameCounts(MaxListedMerchants, 0, nil, ""), batches: map[int64]int64{},
		types: newNameCounts(MaxListedTypes, MaxTypeBytes, knownType, OtherTypes), currencies: map[string]*sums{},
	}
}

// Reject records a rejected row for the report's sample, clipped to sampleRawBytes of its text and
// sampleReasons of its reasons. The full list goes to the rejects file.
func (v *Validator) Reject(r *Row) {
	if len(v.samples) < sampleLines {
		reasons := r.Reasons
		if len(reasons) > sampleReasons {
			reasons = append(reasons[:sampleReasons:sampleReasons], fmt.Sprintf("and %d more reasons", len(r.Reasons)-sampleReasons))
		}
		rj := NewReject(&Row{Line: r.Line, Raw: clipUTF8(r.Raw, sampleRawBytes), Reasons: reasons})
		if len(r.Raw) > sampleRawBytes {
			rj.RawBytes = len(r.Raw)
		}
		v.samples = append(v.samples, rj)
	}
}

// Add applies the file rules to a valid row.
func (v *Validator) Add(r *Row) {
	if !v.seenRow {
		v.seenRow = true
		v.company = string(r.CompanyAccount)
		v.merchant = string(r.MerchantAccount)
		v.firstBatch = r.BatchNumber
	}
	v.merchants.inc(r.MerchantAccount)
	if len(v.batches) < 100 || v.batches[r.BatchNumber] > 0 {
		v.batches[r.BatchNumber]++
	}
	v.types.inc(r.Type)

	d := r.SettlementLocalDate()
	if d > v.maxDate || v.maxDateLine == 0 {
		v.maxDate, v.maxDateLine = d, r.Line
	}
	payout := r.IsPayout()
	if payout && (v.payoutLine == 0 || d > v.payoutDate) {
		v.payoutDate, v.payoutLine, v.payoutBook = d, r.Line, r.HasBooking
	}

	if len(r.GrossCurrency) > 0 {
		s := v.sumsFor(r.GrossCurrency)
		s.grossRows++
		v.add(&s.grossDebit, r.GrossDebit)
		v.add(&s.grossCredit, r.GrossCredit)
	}
	if len(r.NetCurrency) > 0 {
		s := v.sumsFor(r.NetCurrency)
		s.netRows++
		v.add(&s.netDebit, r.NetDebit)
		v.add(&s.netCredit, r.NetCredit)
		v.add(&s.commission, r.Commission)
		v.add(&s.markup, r.Markup)
		v.add(&s.schemeFees, r.SchemeFees)
		v.add(&s.interchange, r.Interchange)
		net := r.NetAmount()
		v.add(&s.netAmount, net)
		v.add(&s.totalFees, r.TotalFees())
		if payout {
			s.payoutRows++
			v.add(&s.payout, money.NullAmount{V: -net.V, Valid: net.Valid})
		} else {
			v.add(&s.nonPayoutNet, net)
		}
	}

	// Fee identity: with no currency conversion, gross − fees = net.
	if len(r.GrossCurrency) > 0 && string(r.GrossCurrency) == string(r.NetCurrency) &&
		(!r.ExchangeRate.Valid || r.ExchangeRate.V.IsOne()) &&
		(r.GrossDebit.Valid || r.GrossCredit.Valid) && (r.NetDebit.Valid || r.NetCredit.Valid) {
		gross := r.GrossCredit.V - r.GrossDebit.V
		if gross-r.TotalFees().V != r.NetAmount().V {
			v.feeCount++
			if len(v.feeLines) < sampleLines {
				v.feeLines = append(v.feeLines, r.Line)
			}
		}
	}
}

// Merge adds the rows another validator saw, which came after this one's in the file: the first-row
// facts stay this one's unless it saw none, ties between equal dates keep the earlier line.
func (v *Validator) Merge(o *Validator) {
	if !v.seenRow && o.seenRow {
		v.seenRow, v.company, v.merchant, v.firstBatch = true, o.company, o.merchant, o.firstBatch
	}
	v.merchants.merge(&o.merchants)
	for k, n := range o.batches {
		if len(v.batches) < 100 || v.batches[k] > 0 {
			v.batches[k] += n
		}
	}
	v.types.merge(&o.types)
	for code, os := range o.currencies {
		s, ok := v.currencies[code]
		if !ok {
			s = &sums{scale: os.scale}
			v.currencies[code] = s
		}
		s.grossRows += os.grossRows
		s.netRows += os.netRows
		s.payoutRows += os.payoutRows
		for _, p := range [...][2]*money.Amount{
			{&s.grossDebit, &os.grossDebit}, {&s.grossCredit, &os.grossCredit}, {&s.netDebit, &os.netDebit},
			{&s.netCredit, &os.netCredit}, {&s.commission, &os.commission}, {&s.markup, &os.markup},
			{&s.schemeFees, &os.schemeFees}, {&s.interchange, &os.interchange}, {&s.netAmount, &os.netAmount},
			{&s.totalFees, &os.totalFees}, {&s.nonPayoutNet, &os.nonPayoutNet}, {&s.payout, &os.payout},
		} {
			v.add(p[0], money.NullAmount{V: *p[1], Valid: true})
		}
	}
	v.overflow = v.overflow || o.overflow
	if o.maxDateLine > 0 && (v.maxDateLine == 0 || o.maxDate > v.maxDate) {
		v.maxDate, v.maxDateLine = o.maxDate, o.maxDateLine
	}
	if o.payoutLine > 0 && (v.payoutLine == 0 || o.payoutDate > v.payoutDate) {
		v.payoutDate, v.payoutLine, v.payoutBook = o.payoutDate, o.payoutLine, o.payoutBook
	}
	v.feeCount += o.feeCount
	for _, l := range o.feeLines {
		if len(v.feeLines) < sampleLines {
			v.feeLines = append(v.feeLines, l)
		}
	}
	for _, rj := range o.samples {
		if len(v.samples) < sampleLines {
			v.samples = append(v.samples, rj)
		}
	}
}

func (v *Validator) sumsFor(code []byte) *sums {
	for _, c := range v.lastCur {
		if c.s != nil && bytes.Equal(code, c.code) {
			return c.s
		}
	}
	s, ok := v.currencies[string(code)]
	if !ok {
		n, _ := money.MinorUnits(code)
		s = &sums{scale: n}
		v.currencies[string(code)] = s
	}
	v.lastCur[0], v.lastCur[1] = v.lastCur[1], v.lastCur[0]
	v.lastCur[0].code, v.lastCur[0].s = append(v.lastCur[0].code[:0], code...), s
	return s
}

func (v *Validator) add(dst *money.Amount, a money.NullAmount) {
	if !a.Valid {
		return
	}
	s, err := money.Add(*dst, a.V)
	if err != nil {
		v.overflow = true
		return
	}
	*dst = s
}

// Report applies the file rules to what was added and returns the report for counts.
func (v *Validator) Report(counts Counts) *Report {
	rep := &Report{
		Provider: v.provider, CompanyAccount: v.company, BatchNumber: v.firstBatch,
		Counts: counts, Policy: v.policy, Types: map[string]int64{}, RejectSample: v.samples,
	}
	for t, n := range v.types.counts {
		rep.Types[t] = *n
		if !knownType[t] {
			rep.UnknownTypes = append(rep.UnknownTypes, t)
		}
	}
	if v.types.other > 0 {
		rep.Types[OtherTypes] = v.types.other
	}
	sort.Strings(rep.UnknownTypes)

	rep.MerchantAccount = v.merchant
	merchants := sortedKeys(v.merchants.counts)
	if len(merchants) > 1 {
		n := strconv.Itoa(len(merchants))
		if v.merchants.dropped {
			n = "more than " + n
		}
		rep.FileErrors = append(rep.FileErrors, FileError{Rule: "merchant_account",
			Message: fmt.Sprintf("the file has %s merchant accounts (%s); a settlement batch belongs to one", n, strings.Join(first(merchants, 5), ", "))})
	}
	if len(v.batches) > 1 {
		var bs []string
		for b := range v.batches {
			bs = append(bs, strconv.FormatInt(b, 10))
		}
		sort.Slice(bs, func(i, j int) bool { return len(bs[i]) < len(bs[j]) || (len(bs[i]) == len(bs[j]) && bs[i] < bs[j]) })
		rep.FileErrors = append(rep.FileErrors, FileError{Rule: "batch_number",
			Message: fmt.Sprintf("the file has %d batch numbers (%s); a settlement details report holds one batch", len(v.batches), strings.Join(first(bs, 5), ", "))})
	}
	if v.overflow {
		rep.FileErrors = append(rep.FileErrors, FileError{Rule: "sum_overflow", Message: "a currency's sum does not fit in 18 digits"})
	}

	switch {
	case v.payoutLine > 0:
		rep.SettlementDate = v.payoutDate.String()
		col := "Creation Date"
		if v.payoutBook {
			col = "Booking Date"
		}
		rep.SettlementDateRule = fmt.Sprintf("%s of the MerchantPayout row on line %d", col, v.payoutLine)
	case v.maxDateLine > 0:
		rep.SettlementDate = v.maxDate.String()
		rep.SettlementDateRule = fmt.Sprintf("no MerchantPayout row: latest row date, line %d", v.maxDateLine)
	}

	var unbalanced []string
	for _, code := range sortedKeys(v.currencies) {
		s := v.currencies[code]
		f := func(a money.Amount) string { return a.Format(s.scale) }
		rep.Currencies = append(rep.Currencies, Totals{
			Currency: code, GrossRows: s.grossRows, NetRows: s.netRows,
			GrossDebit: f(s.grossDebit), GrossCredit: f(s.grossCredit), NetDebit: f(s.netDebit), NetCredit: f(s.netCredit),
			Commission: f(s.commission), Markup: f(s.markup), SchemeFees: f(s.schemeFees), Interchange: f(s.interchange),
			NetAmount: f(s.netAmount), TotalFees: f(s.totalFees), Payout: f(s.payout),
		})
		if s.netRows == 0 {
			continue
		}
		if s.payoutRows == 0 {
			if s.nonPayoutNet != 0 {
				rep.Warnings = append(rep.Warnings, Warning{Rule: "no_payout", Count: 1,
					Message: fmt.Sprintf("%s has no MerchantPayout row: a balance of %s is carried forward", code, f(s.nonPayoutNet))})
			}
			continue
		}
		if s.nonPayoutNet != s.payout {
			msg := fmt.Sprintf("batch does not balance in %s: payout %s, sum of the other rows %s (difference %s)",
				code, f(s.payout), f(s.nonPayoutNet), f(s.nonPayoutNet-s.payout))
			if v.policy.BalanceCheck {
				rep.FileErrors = append(rep.FileErrors, FileError{Rule: "balance", Message: msg, Currency: code, Expected: f(s.payout), Actual: f(s.nonPayoutNet)})
			} else {
				unbalanced = append(unbalanced, msg)
			}
		}
	}
	if len(unbalanced) > 0 {
		rep.Warnings = append(rep.Warnings, Warning{Rule: "balance", Count: int64(len(unbalanced)),
			Message: "balance check is off: " + strings.Join(unbalanced, "; ")})
	}
	if v.feeCount > 0 {
		rep.Warnings = append(rep.Warnings, Warning{Rule: "fee_identity", Count: v.feeCount, Lines: v.feeLines,
			Message: fmt.Sprintf("%d rows without currency conversion where gross − fees ≠ net", v.feeCount)})
	}
	return rep
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}
