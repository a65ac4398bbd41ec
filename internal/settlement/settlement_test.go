package settlement_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/settlement"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll returns copies of every row of a report.
func readAll(t testing.TB, data []byte, opts settlement.Options) ([]settlement.Row, settlement.Counts) {
	t.Helper()
	rd, err := settlement.NewReader(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	var rows []settlement.Row
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c := *r
		c.Raw = bytes.Clone(r.Raw)
		c.Reasons = append([]string(nil), r.Reasons...)
		for _, p := range []*[]byte{&c.CompanyAccount, &c.MerchantAccount, &c.PspReference, &c.MerchantReference, &c.PaymentMethod,
			&c.PaymentMethodVariant, &c.Type, &c.ModificationReference, &c.ModificationMerchantReference, &c.CreationZone,
			&c.BookingZone, &c.GrossCurrency, &c.NetCurrency, &c.Extra} {
			*p = bytes.Clone(*p)
		}
		rows = append(rows, c)
	}
	return rows, rd.Counts()
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		file                 string
		dataRows, rejected   int64
		blank, lines         int64
		date                 string
		ok                   bool
		fileErrors, warnings []string // rules
	}{
		{"default30.csv", 11, 0, 0, 12, "2024-05-03", true, nil, nil},
		{"reordered.csv", 11, 0, 0, 12, "2024-05-03", true, nil, nil},
		{"booking.csv", 11, 0, 0, 12, "2024-05-06", true, nil, nil},
		{"layout49.csv", 11, 0, 0, 12, "2024-05-06", true, nil, nil},
		{"quirks.csv", 11, 0, 4, 17, "2024-05-03", true, nil, nil},
		{"bad_rows.csv", 15, 13, 0, 16, "2024-05-03", false, nil, nil},
		{"truncated.csv", 11, 1, 0, 12, "2024-05-03", false, nil, []string{"no_payout"}},
		{"unbalanced.csv", 11, 0, 0, 12, "2024-05-03", false, []string{"balance"}, nil},
		{"two_batches.csv", 11, 0, 0, 12, "2024-05-03", false, []string{"batch_number"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rep := validateAll(t, fixture(t, tt.file), settlement.DefaultPolicy())
			c := rep.Counts
			if c.DataRows != tt.dataRows || c.Rejected != tt.rejected || c.Blank != tt.blank || c.Lines != tt.lines {
				t.Errorf("counts = %+v, want rows %d rejected %d blank %d lines %d", c, tt.dataRows, tt.rejected, tt.blank, tt.lines)
			}
			if c.Valid+c.Rejected != c.DataRows {
				t.Errorf("valid %d + rejected %d != data rows %d", c.Valid, c.Rejected, c.DataRows)
			}
			if rep.SettlementDate != tt.date {
				t.Errorf("settlement date = %s (%s), want %s", rep.SettlementDate, rep.SettlementDateRule, tt.date)
			}
			if rep.OK() != tt.ok {
				t.Errorf("OK = %v, want %v: %s", rep.OK(), tt.ok, rep.Problem())
			}
			var fe, w []string
			for _, e := range rep.FileErrors {
				fe = append(fe, e.Rule)
			}
			for _, e := range rep.Warnings {
				w = append(w, e.Rule)
			}
			if strings.Join(fe, ",") != strings.Join(tt.fileErrors, ",") || strings.Join(w, ",") != strings.Join(tt.warnings, ",") {
				t.Errorf("file errors %v warnings %v, want %v and %v", rep.FileErrors, rep.Warnings, tt.fileErrors, tt.warnings)
			}
		})
	}
}

func TestRowValues(t *testing.T) {
	rows, _ := readAll(t, fixture(t, "default30.csv"), settlement.Options{})
	r := rows[0]
	if !r.Valid() {
		t.Fatalf("row 1 rejected: %v", r.Reasons)
	}
	want := time.Date(2024, 5, 1, 8, 15, 0, 0, time.UTC) // 10:15 CEST
	if got := time.UnixMicro(r.CreationTime).UTC(); !got.Equal(want) || r.CreationDate.String() != "2024-05-01" {
		t.Errorf("creation = %s (%s), want %s", got, r.CreationDate, want)
	}
	check := func(name string, got money.NullAmount, want string) {
		t.Helper()
		if want == "" {
			if got.Valid {
				t.Errorf("%s = %s, want null", name, got.V)
			}
			return
		}
		if !got.Valid || got.V.String() != want {
			t.Errorf("%s = %v, want %s", name, got, want)
		}
	}
	check("gross credit", r.GrossCredit, "100.000")
	check("gross debit", r.GrossDebit, "")
	check("net credit", r.NetCredit, "98.050")
	check("commission", r.Commission, "0.100")
	check("net amount", r.NetAmount(), "98.050")
	check("total fees", r.TotalFees(), "1.950")
	if r.Line != 2 || r.BatchNumber != 57 || string(r.MerchantAccount) != "AcmeShopNL" || r.Extra != nil {
		t.Errorf("line %d batch %d merchant %s extra %s", r.Line, r.BatchNumber, r.MerchantAccount, r.Extra)
	}
	if got := rows[1].ExchangeRate.V.String(); got != "0.921734587632511" {
		t.Errorf("exchange rate = %s", got)
	}
	check("negative fee", rows[5].Commission, "-0.100")
	check("JPY net", rows[6].NetCredit, "3120.000")
	check("KWD net", rows[7].NetCredit, "12.425")
	check("payout net amount", rows[8].NetAmount(), "-103.970")
	if rows[4].PspReference != nil || string(rows[4].Type) != "Fee" {
		t.Errorf("fee row: psp %q type %q", rows[4].PspReference, rows[4].Type)
	}
}

// TestVariantsReadTheSame: reordered columns and added optional columns change nothing in the typed rows.
func TestVariantsReadTheSame(t *testing.T) {
	base, _ := readAll(t, fixture(t, "default30.csv"), settlement.Options{})
	for _, name := range []string{"reordered.csv", "booking.csv", "layout49.csv", "quirks.csv"} {
		rows, _ := readAll(t, fixture(t, name), settlement.Options{})
		if len(rows) != len(base) {
			t.Fatalf("%s: %d rows, want %d", name, len(rows), len(base))
		}
		for i := range rows {
			a, b := base[i], rows[i]
			if name == "quirks.csv" && i <= 1 {
				continue // merchant references differ on purpose
			}
			if string(a.MerchantReference) != string(b.MerchantReference) || a.CreationTime != b.CreationTime ||
				a.NetCredit != b.NetCredit || a.NetDebit != b.NetDebit || a.GrossCredit != b.GrossCredit ||
				a.ExchangeRate != b.ExchangeRate || a.TotalFees() != b.TotalFees() || string(a.Type) != string(b.Type) {
				t.Errorf("%s row %d differs from default30.csv", name, i+1)
			}
		}
	}
}

func TestBookingAndExtra(t *testing.T) {
	rows, _ := readAll(t, fixture(t, "layout49.csv"), settlement.Options{})
	r := rows[0]
	if !r.HasBooking || string(r.BookingZone) != "CEST" {
		t.Fatalf("booking = %v %q", r.HasBooking, r.BookingZone)
	}
	want := `{"Metadata":"{\"channel\":\"web\",\"risk\":\"low\"}","Merchant Order Reference":"MOR-77","Acquirer":"AdyenAcquirer","Global Card Brand":"visa","Issuer Country":"NL","Shopper Country":"DE","Shopper Interaction":"Ecommerce","Funding Source":"CREDIT","Store":"Amsterdam 1"}`
	if string(r.Extra) != want {
		t.Errorf("extra =\n%s\nwant\n%s", r.Extra, want)
	}
	jst := rows[6]
	if got := time.UnixMicro(jst.BookingTime).UTC(); !got.Equal(time.Date(2024, 5, 1, 16, 5, 44, 0, time.UTC)) {
		t.Errorf("JST booking time = %s", got)
	}
	payout := rows[8]
	if got := time.UnixMicro(payout.BookingTime).UTC(); !got.Equal(time.Date(2024, 5, 5, 22, 0, 0, 0, time.UTC)) || payout.BookingDate.String() != "2024-05-06" {
		t.Errorf("date-only booking = %s (%s)", got, payout.BookingDate)
	}
	if rows[1].Extra != nil {
		t.Errorf("row without extra values: extra = %s, want null", rows[1].Extra)
	}
}

func TestQuirks(t *testing.T) {
	rows, counts := readAll(t, fixture(t, "quirks.csv"), settlement.Options{})
	if got := string(rows[0].MerchantReference); got != "Order 1001, \"gift\", 2nd line\nhere" {
		t.Errorf("quoted reference = %q", got)
	}
	if rows[0].Line != 2 || rows[1].Line != 4 {
		t.Errorf("lines = %d, %d; a quoted line break spans two physical lines", rows[0].Line, rows[1].Line)
	}
	if got := string(rows[1].MerchantReference); got != `=HYPERLINK("http://x")` {
		t.Errorf("formula kept as text: %q", got)
	}
	if rows[2].GrossCredit.Valid || !rows[2].GrossDebit.Valid || rows[2].PspReference == nil {
		t.Errorf(`"" cells: gross credit %v, gross debit %v`, rows[2].GrossCredit, rows[2].GrossDebit)
	}
	if counts.Blank != 4 || counts.Lines != 17 {
		t.Errorf("counts = %+v", counts)
	}
}

func TestBadRowReasons(t *testing.T) {
	rows, _ := readAll(t, fixture(t, "bad_rows.csv"), settlement.Options{})
	want := map[int64]string{
		3:  `Gross Credit (GC): "12,50" not a decimal number`,
		4:  `Gross Currency: currency "EURO" is not an ISO 4217 code`,
		5:  `Creation Date: "2024-13-01 10:00:00" is not YYYY-MM-DD HH:MM:SS`,
		6:  `TimeZone: unknown time zone abbreviation "XYZ"`,
		7:  `TimeZone: time zone "CST" is ambiguous (US Central -06:00 or China +08:00); configure it, e.g. SETTLE_TIMEZONES=CST=-06:00`,
		8:  "has 5 fields, the header has 30",
		9:  "has 31 fields, the header has 30",
		10: `Gross Credit (GC): "3158.5" has 1 fraction digits; its currency allows 0`,
		11: `Gross Credit (GC): "10.123" has 3 fraction digits; its currency allows 2`,
		12: `Gross Debit (GC): "-5.00" negative amount where only unsigned amounts are allowed`,
		13: "Merchant Account: empty",
		14: `Batch Number: "abc" is not a positive whole number`,
		16: "unterminated quoted field: the file ends inside quotes",
	}
	seen := 0
	for _, r := range rows {
		w, bad := want[r.Line]
		if bad == r.Valid() {
			t.Errorf("line %d: valid = %v, reasons %v", r.Line, r.Valid(), r.Reasons)
			continue
		}
		if !bad {
			continue
		}
		seen++
		found := false
		for _, reason := range r.Reasons {
			if strings.HasPrefix(reason, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("line %d: reasons %q, want one starting %q", r.Line, r.Reasons, w)
		}
	}
	if seen != len(want) {
		t.Errorf("saw %d bad lines, want %d", seen, len(want))
	}
	// A row with several problems lists all of them.
	if got := len(rows[2].Reasons); got != 2 {
		t.Errorf("line 4 has %d reasons (%q), want gross and net currency", got, rows[2].Reasons)
	}
}

func TestInvalidFiles(t *testing.T) {
	tests := []struct{ file, want string }{
		{"empty.csv", "the file is empty"},
		{"not_a_report.csv", "none of its 23 required columns are in the header, which has: Date, Amount, Currency"},
		{"binary.bin", "the first line is binary"},
	}
	for _, tt := range tests {
		_, err := settlement.NewReader(bytes.NewReader(fixture(t, tt.file)), settlement.Options{})
		var ife *settlement.InvalidFileError
		if !errors.As(err, &ife) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want an InvalidFileError containing %q", tt.file, err, tt.want)
		}
	}
}

// TestLongLine: a 10 MB line is one row error with its start kept, not 10 MB of memory per field.
func TestLongLine(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(strings.Join(settlement.DefaultHeader, ",") + "\n")
	b.WriteString(strings.Repeat("x", 10<<20) + "\n")
	b.Write(fixture(t, "default30.csv")[bytes.IndexByte(fixture(t, "default30.csv"), '\n')+1:])
	rows, counts := readAll(t, b.Bytes(), settlement.Options{MaxRecordBytes: 1 << 20})
	if rows[0].Valid() || !strings.HasPrefix(rows[0].Reasons[0], "record longer than 1048576 bytes") || len(rows[0].Raw) != 4096 {
		t.Fatalf("long line: valid %v reasons %v raw %d bytes", rows[0].Valid(), rows[0].Reasons, len(rows[0].Raw))
	}
	if counts.DataRows != 12 || counts.Rejected != 1 || rows[1].Line != 3 || !rows[1].Valid() {
		t.Errorf("the rows after the long line: counts %+v, next line %d", counts, rows[1].Line)
	}
}

func TestZoneOverrides(t *testing.T) {
	zones, err := settlement.ParseZones("CST=-06:00, IST=+05:30")
	if err != nil || zones["CST"] != -21600 || zones["IST"] != 19800 {
		t.Fatalf("ParseZones = %v, %v", zones, err)
	}
	data := bytes.ReplaceAll(fixture(t, "default30.csv"), []byte(",CEST,"), []byte(",CST,"))
	rows, _ := readAll(t, data, settlement.Options{Zones: zones})
	if !rows[0].Valid() || !time.UnixMicro(rows[0].CreationTime).UTC().Equal(time.Date(2024, 5, 1, 16, 15, 0, 0, time.UTC)) {
		t.Errorf("CST row: %v %s", rows[0].Reasons, time.UnixMicro(rows[0].CreationTime).UTC())
	}
	for _, bad := range []string{"CST", "CST=6", "=+01:00", "X=+25:00"} {
		if _, err := settlement.ParseZones(bad); err == nil {
			t.Errorf("ParseZones(%q) accepted", bad)
		}
	}
}

func TestPolicy(t *testing.T) {
	data := fixture(t, "unbalanced.csv")
	rep := validateAll(t, data, settlement.Policy{BalanceCheck: false})
	if !rep.OK() || len(rep.Warnings) != 1 || rep.Warnings[0].Rule != "balance" {
		t.Errorf("balance check off: OK %v warnings %+v", rep.OK(), rep.Warnings)
	}
	rep = validateAll(t, data, settlement.DefaultPolicy())
	if fe := rep.FileErrors; len(fe) != 1 || fe[0].Currency != "EUR" || fe[0].Expected != "103.96" || fe[0].Actual != "103.97" {
		t.Errorf("balance error = %+v", fe)
	}
	bad := validateAll(t, fixture(t, "bad_rows.csv"), settlement.Policy{MaxRejected: 13, BalanceCheck: true})
	if !bad.OK() {
		t.Errorf("13 rejects with MaxRejected 13: %s", bad.Problem())
	}
}

func TestRecordIDs(t *testing.T) {
	a := settlement.NewRecordIDs("adyen", "AcmeShopNL", 57)
	id := string(a.ID(57))
	if len(id) != 26 || !strings.HasSuffix(id, "-000000057") {
		t.Errorf("id = %q", id)
	}
	if id != string(settlement.NewRecordIDs("adyen", "AcmeShopNL", 57).ID(57)) {
		t.Error("record ids are not deterministic")
	}
	if id == string(settlement.NewRecordIDs("adyen", "AcmeShopNL", 58).ID(57)) {
		t.Error("two batches share a record id")
	}
}
