package settlement_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
)

var netColumnNames = []string{"Net Currency", "Net Debit (NC)", "Net Credit (NC)"}

// withoutNet is the default header without its net columns, with the columns named in more appended.
func withoutNet(more ...string) []string {
	h := slices.DeleteFunc(slices.Clone(settlement.DefaultHeader), func(c string) bool { return slices.Contains(netColumnNames, c) })
	return append(h, more...)
}

func fields(header []string) [][]byte {
	f := make([][]byte, len(header))
	for i, c := range header {
		f[i] = []byte(c)
	}
	return f
}

// TestNetColumnsOmittedRefused: the 28-column report a Balance Platform account exports, without Net
// Currency, Net Debit (NC) and Net Credit (NC), is refused as a whole, whether its payout balances or not:
// the reason names the variant and what to do, does not call it "not an Adyen settlement details report",
// and no row is read, validated or rejected, sequentially or in parallel.
func TestNetColumnsOmittedRefused(t *testing.T) {
	for _, name := range []string{"adyen_balance_platform_batch_7.csv", "adyen_balance_platform_batch_7_unbalanced.csv"} {
		t.Run(name, func(t *testing.T) {
			data := fixture(t, name)
			header, _, _ := bytes.Cut(data, []byte("\n"))
			cols := strings.Split(string(header), ",")
			if len(cols) != 28 || !slices.Contains(cols, "Acquirer") || slices.ContainsFunc(cols, func(c string) bool { return slices.Contains(netColumnNames, c) }) {
				t.Fatalf("fixture header = %q, want the 28 columns with Acquirer and without net columns", cols)
			}
			_, err := settlement.DetectLayout(fields(cols))
			var he *settlement.HeaderError
			if !errors.As(err, &he) || !he.NetColumnsOmitted || !slices.Equal(he.Missing, netColumnNames) || len(he.Duplicate) != 0 {
				t.Fatalf("DetectLayout = %#v, want a HeaderError with NetColumnsOmitted and the three net columns missing", err)
			}
			msg := he.Error()
			for _, want := range []string{
				"a settlement details report without its net columns (Net Currency, Net Debit (NC), Net Credit (NC))",
				"Balance Platform",
				"are not derived from the gross amounts",
				"generate the report again with these three standard columns and upload it in place of this file",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("reason %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "not an Adyen settlement details report") {
				t.Errorf("reason %q denies that the file is a settlement details report", msg)
			}

			wantErr := "line 1: " + msg
			var ife *settlement.InvalidFileError
			if _, err := settlement.NewReader(bytes.NewReader(data), settlement.Options{}); !errors.As(err, &ife) || err.Error() != wantErr {
				t.Errorf("NewReader: %v, want the InvalidFileError %q", err, wantErr)
			}
			var rejects bytes.Buffer
			rep, err := settlement.ValidateReport(bytes.NewReader(data), settlement.Options{}, settlement.DefaultPolicy(), &rejects)
			if !errors.As(err, &ife) || err.Error() != wantErr || rep != nil || rejects.Len() != 0 {
				t.Errorf("ValidateReport: report %v, err %v, %d bytes of rejects; want only the InvalidFileError", rep, err, rejects.Len())
			}
			chunks := 0
			_, counts, err := settlement.ReadParallel(bytes.NewReader(data), settlement.ParallelOptions{Workers: 2, BlockBytes: 64},
				func(cr *settlement.ChunkRows) (int, error) {
					for r := cr.Next(); r != nil; r = cr.Next() {
					}
					return 1, nil
				},
				func(n int) error { chunks += n; return nil })
			if !errors.As(err, &ife) || err.Error() != wantErr || chunks != 0 || counts != (settlement.Counts{}) {
				t.Errorf("ReadParallel: %d chunks, counts %+v, err %v; want only the InvalidFileError", chunks, counts, err)
			}
		})
	}
}

// TestNetColumnsOmittedExactly: the variant is a header with every other required column, in any order and
// case, with or without Acquirer; a header missing more, missing only some net columns, or naming a column
// twice keeps the general reason.
func TestNetColumnsOmittedExactly(t *testing.T) {
	reversed := withoutNet()
	slices.Reverse(reversed)
	lower := withoutNet("Acquirer")
	for i := range lower {
		lower[i] = strings.ToLower(lower[i])
	}
	tests := []struct {
		name    string
		header  []string
		omitted bool
		reason  string // the general reason, when not omitted
	}{
		{"no Acquirer", withoutNet(), true, ""},
		{"reordered", reversed, true, ""},
		{"other case", lower, true, ""},
		{"added columns", withoutNet("Acquirer", "Booking Date", "Metadata"), true, ""},
		{"Batch Number missing too", slices.DeleteFunc(withoutNet("Acquirer"), func(c string) bool { return c == "Batch Number" }), false,
			"not an Adyen settlement details report: missing required columns: Net Currency, Net Debit (NC), Net Credit (NC), Batch Number"},
		{"only Net Currency missing", slices.DeleteFunc(slices.Clone(settlement.DefaultHeader), func(c string) bool { return c == "Net Currency" }), false,
			"not an Adyen settlement details report: missing required columns: Net Currency"},
		{"a duplicate", withoutNet("Acquirer", "Acquirer"), false,
			"not an Adyen settlement details report: missing required columns: Net Currency, Net Debit (NC), Net Credit (NC); duplicate columns: Acquirer"},
	}
	for _, tt := range tests {
		_, err := settlement.DetectLayout(fields(tt.header))
		var he *settlement.HeaderError
		if !errors.As(err, &he) || he.NetColumnsOmitted != tt.omitted {
			t.Errorf("%s: DetectLayout = %v, want a HeaderError with NetColumnsOmitted %v", tt.name, err, tt.omitted)
			continue
		}
		if tt.omitted && !strings.HasPrefix(err.Error(), "a settlement details report without its net columns") {
			t.Errorf("%s: reason %q", tt.name, err)
		}
		if !tt.omitted && err.Error() != tt.reason {
			t.Errorf("%s: reason %q, want %q", tt.name, err, tt.reason)
		}
	}
	for _, h := range [][]string{settlement.DefaultHeader, append(withoutNet("Acquirer"), netColumnNames...)} {
		if _, err := settlement.DetectLayout(fields(h)); err != nil {
			t.Errorf("%d columns with the net ones: %v", len(h), err)
		}
	}
}

// TestBalancePlatformWithNetColumns: the same batch generated with the three net columns (31 columns) is
// read like any settlement details report: every line accounted for, exact totals per currency, the
// Acquirer kept in extra, the converted row's net in its net currency, and the balance checked against
// the MerchantPayout row, passing as written and failing when the payout is a cent off.
func TestBalancePlatformWithNetColumns(t *testing.T) {
	data := fixture(t, "adyen_balance_platform_batch_7_net.csv")
	rep, rejects := both(t, data, settlement.DefaultPolicy())
	c := rep.Counts
	if c != (settlement.Counts{Lines: 7, Header: 1, DataRows: 6, Valid: 6}) || c.Header+c.Blank+c.DataRows != c.Lines || len(rejects) != 0 {
		t.Errorf("counts = %+v, %d rejects; want 7 lines: the header and 6 valid rows", c, len(rejects))
	}
	if !rep.OK() || len(rep.Warnings) != 0 {
		t.Errorf("OK = %v (%s), warnings %+v; want a clean, balanced batch", rep.OK(), rep.Problem(), rep.Warnings)
	}
	if rep.MerchantAccount != "AcmePlatformNL" || rep.BatchNumber != 7 || rep.SettlementDate != "2024-06-05" ||
		rep.SettlementDateRule != "Creation Date of the MerchantPayout row on line 7" {
		t.Errorf("batch %s/%d settled %s (%s)", rep.MerchantAccount, rep.BatchNumber, rep.SettlementDate, rep.SettlementDateRule)
	}
	want := []settlement.Totals{
		{Currency: "EUR", GrossRows: 3, NetRows: 6, GrossDebit: "20.00", GrossCredit: "165.50", NetDebit: "211.38", NetCredit: "211.38",
			Commission: "0.24", Markup: "1.29", SchemeFees: "0.88", Interchange: "1.50", NetAmount: "0.00", TotalFees: "3.91", Payout: "190.42"},
		{Currency: "USD", GrossRows: 1, GrossDebit: "0.00", GrossCredit: "54.30", NetDebit: "0.00", NetCredit: "0.00",
			Commission: "0.00", Markup: "0.00", SchemeFees: "0.00", Interchange: "0.00", NetAmount: "0.00", TotalFees: "0.00", Payout: "0.00"},
	}
	if !slices.Equal(rep.Currencies, want) {
		t.Errorf("totals =\n%+v\nwant\n%+v", rep.Currencies, want)
	}
	types := map[string]int64{"Settled": 3, "Refunded": 1, "Fee": 1, "MerchantPayout": 1}
	if len(rep.Types) != len(types) || len(rep.UnknownTypes) != 0 {
		t.Errorf("types = %v, unknown %v", rep.Types, rep.UnknownTypes)
	}
	for k, n := range types {
		if rep.Types[k] != n {
			t.Errorf("types = %v, want %v", rep.Types, types)
		}
	}

	rows, _ := readAll(t, data, settlement.Options{})
	for i, w := range []struct{ net, fees, extra string }{
		{"117.660", "2.340", `{"Acquirer":"AdyenAcquirer"}`},
		{"44.600", "0.900", `{"Acquirer":"AdyenAcquirer"}`},
		{"49.120", "0.550", `{"Acquirer":"AdyenAcquirer"}`},
		{"-20.120", "0.120", `{"Acquirer":"AdyenAcquirer"}`},
		{"-0.840", "", ""},
		{"-190.420", "", ""},
	} {
		r := rows[i]
		fees := ""
		if f := r.TotalFees(); f.Valid {
			fees = f.V.String()
		}
		if string(r.NetCurrency) != "EUR" || r.NetAmount().V.String() != w.net || fees != w.fees || string(r.Extra) != w.extra {
			t.Errorf("line %d: net %s %v fees %q extra %s; want EUR %s, fees %q, extra %s", r.Line, r.NetCurrency, r.NetAmount(), fees, r.Extra, w.net, w.fees, w.extra)
		}
	}
	if string(rows[2].GrossCurrency) != "USD" || rows[2].ExchangeRate.V.String() != "0.921734587632511" {
		t.Errorf("converted row: gross %s rate %s", rows[2].GrossCurrency, rows[2].ExchangeRate.V)
	}

	off := bytes.Replace(data, []byte(",EUR,190.42,"), []byte(",EUR,190.43,"), 1)
	if bytes.Equal(off, data) {
		t.Fatal("the payout row was not changed")
	}
	rep, _ = both(t, off, settlement.DefaultPolicy())
	if fe := rep.FileErrors; rep.OK() || len(fe) != 1 || fe[0].Rule != "balance" || fe[0].Currency != "EUR" || fe[0].Expected != "190.43" || fe[0].Actual != "190.42" {
		t.Errorf("a cent off: OK %v, file errors %+v; want the EUR balance error", rep.OK(), rep.FileErrors)
	}
	rep, _ = both(t, off, settlement.Policy{BalanceCheck: false})
	if !rep.OK() || len(rep.Warnings) != 1 || rep.Warnings[0].Rule != "balance" {
		t.Errorf("a cent off, balance check off: OK %v, warnings %+v", rep.OK(), rep.Warnings)
	}
}
