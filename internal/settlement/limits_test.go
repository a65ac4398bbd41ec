package settlement_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/settlement"
)

// report builds a default 30-column report whose rows are the fixture's first row with some columns
// changed, one map per row (column name → value).
func report(t testing.TB, rows ...map[string]string) []byte {
	t.Helper()
	d := fixture(t, "default30.csv")
	first := strings.Split(strings.SplitN(string(d), "\n", 3)[1], ",")
	var b strings.Builder
	b.WriteString(strings.Join(settlement.DefaultHeader, ",") + "\n")
	for _, change := range rows {
		f := slices.Clone(first)
		for col, v := range change {
			i := slices.Index(settlement.DefaultHeader, col)
			if i < 0 {
				t.Fatalf("no column %q", col)
			}
			f[i] = v
		}
		b.WriteString(strings.Join(f, ",") + "\n")
	}
	return []byte(b.String())
}

// both validates data sequentially and with the parallel reader on small blocks, checks that the two
// reports are the same, and returns the report and the rejects.
func both(t *testing.T, data []byte, p settlement.Policy) (*settlement.Report, []settlement.Reject) {
	t.Helper()
	want := validateAll(t, data, p)
	var rejects bytes.Buffer
	for _, block := range []int{512, 4096, 1 << 20} {
		rejects.Reset()
		got, err := settlement.ValidateChunked(bytes.NewReader(data), settlement.ParallelOptions{Workers: 3, BlockBytes: block}, p, &rejects)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("blocks of %d: the parallel report differs from the sequential one:\n got %s\nwant %s", block, g, w)
		}
	}
	var out []settlement.Reject
	dec := json.NewDecoder(&rejects)
	for {
		var rj settlement.Reject
		if err := dec.Decode(&rj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, rj)
	}
	if int64(len(out)) != want.Counts.Rejected {
		t.Errorf("%d rejects written, %d rows rejected", len(out), want.Counts.Rejected)
	}
	return want, out
}

// TestHeaderBounds: a header wider than MaxColumns, with a name longer than MaxColumnNameBytes, or
// longer than the record limit is an invalid file whose reason names the line and the limit; at the
// limits it is read.
func TestHeaderBounds(t *testing.T) {
	extra := func(n, size int) string {
		var cols []string
		for i := range n {
			name := fmt.Sprintf("Added %d ", i)
			cols = append(cols, name+strings.Repeat("x", max(0, size-len(name))))
		}
		return strings.Join(append(slices.Clone(settlement.DefaultHeader), cols...), ",")
	}
	row := func(width int) string { return strings.Repeat(",", width-1) }
	tests := []struct {
		name, header, want string
	}{
		{"too many columns", extra(settlement.MaxColumns-len(settlement.DefaultHeader)+1, 0),
			"line 1: the header has 1001 columns, more than the 1000 a report may have"},
		{"a million columns", strings.Repeat(",", 1<<20-1),
			"line 1: the header has 1048576 columns, more than the 1000"},
		{"a long name", extra(1, settlement.MaxColumnNameBytes+1),
			"line 1: not an Adyen settlement details report: column 31's name is 129 bytes long, more than the 128 a column name may have"},
		{"a longer line than a record", strings.Repeat("x", 2<<20),
			"line 1: the header cannot be read: record longer than 1048576 bytes"},
		{"many duplicates", strings.Join(settlement.DefaultHeader, ",") + strings.Repeat(",Reserved4", 500),
			"duplicate columns: Reserved4, Reserved4, Reserved4, Reserved4, Reserved4, Reserved4, Reserved4, Reserved4, …"},
	}
	for _, tt := range tests {
		data := []byte(tt.header + "\n" + row(strings.Count(tt.header, ",")+1) + "\n")
		_, err := settlement.NewReader(bytes.NewReader(data), settlement.Options{})
		_, perr := settlement.ValidateReport(bytes.NewReader(data), settlement.Options{}, settlement.DefaultPolicy(), io.Discard)
		for _, e := range []error{err, perr} {
			var ife *settlement.InvalidFileError
			if !errors.As(e, &ife) || !strings.Contains(e.Error(), tt.want) || len(e.Error()) > 2048 {
				t.Errorf("%s: err = %.300v (%d bytes), want an InvalidFileError containing %q", tt.name, e, len(fmt.Sprint(e)), tt.want)
			}
		}
	}
	// At the limits: MaxColumns columns, names of MaxColumnNameBytes; a data row of that width reads.
	header := extra(settlement.MaxColumns-len(settlement.DefaultHeader), settlement.MaxColumnNameBytes)
	rd, err := settlement.NewReader(strings.NewReader(header+"\n"+row(settlement.MaxColumns)+"\n"), settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rd.Layout().Header); got != settlement.MaxColumns {
		t.Errorf("header width %d, want %d", got, settlement.MaxColumns)
	}
	if r, err := rd.Next(); err != nil || strings.Contains(strings.Join(r.Reasons, ";"), "fields") {
		t.Errorf("a row as wide as the header: %v %q", err, r.Reasons)
	}
}

// TestWideRecords: a record wider than its header, with or without quotes, is one rejected row that
// names its width; its fields past the header's width are counted, not kept.
func TestWideRecords(t *testing.T) {
	data := report(t, map[string]string{}, map[string]string{"Reserved10": strings.Repeat(",", 5000)},
		map[string]string{"Reserved10": `"a,b"` + strings.Repeat(`,""`, 5000)}, map[string]string{"Reserved10": "x,y"})
	rep, rejects := both(t, data, settlement.DefaultPolicy())
	want := []string{"has 5030 fields, the header has 30", "has 5030 fields, the header has 30", "has 31 fields, the header has 30"}
	if rep.Counts.Rejected != 3 || len(rejects) != 3 {
		t.Fatalf("counts %+v", rep.Counts)
	}
	for i, rj := range rejects {
		if rj.Line != int64(i+3) || len(rj.Reasons) != 1 || rj.Reasons[0] != want[i] {
			t.Errorf("reject %d: line %d, reasons %q; want line %d, %q", i, rj.Line, rj.Reasons, i+3, want[i])
		}
	}
}

// TestDerivedAmountsFitDecimal18: a row whose total fees do not fit decimal(18,3) is a row error; at the
// edge of the column the row is valid, and its derived amounts are what the output stores.
func TestDerivedAmountsFitDecimal18(t *testing.T) {
	const max = "999999999999999.99" // the largest EUR amount: 15 integer digits
	data := report(t,
		map[string]string{"Net Credit (NC)": max, "Net Debit (NC)": "", "Commission (NC)": max, "Markup (NC)": "", "Scheme Fees (NC)": "", "Interchange (NC)": ""},
		map[string]string{"Net Credit (NC)": "", "Net Debit (NC)": max, "Commission (NC)": "-" + max, "Markup (NC)": "", "Scheme Fees (NC)": "", "Interchange (NC)": ""},
		map[string]string{"Commission (NC)": max, "Markup (NC)": max, "Scheme Fees (NC)": max, "Interchange (NC)": max},
		map[string]string{"Commission (NC)": "-" + max, "Markup (NC)": "-" + max, "Scheme Fees (NC)": "", "Interchange (NC)": ""},
		map[string]string{"Commission (NC)": max, "Markup (NC)": "0.01", "Scheme Fees (NC)": "", "Interchange (NC)": ""},
	)
	rows, counts := readAll(t, data, settlement.Options{})
	if counts.Valid != 2 || counts.Rejected != 3 {
		t.Fatalf("counts %+v", counts)
	}
	for _, r := range rows[:2] {
		net, fees := r.NetAmount(), r.TotalFees()
		if !r.Valid() || !net.V.InRange() || !fees.V.InRange() || (net.V != money.MaxAmount-9 && net.V != -(money.MaxAmount-9)) {
			t.Errorf("line %d at the edge: valid %v %q, net %s, fees %s", r.Line, r.Valid(), r.Reasons, net.V, fees.V)
		}
	}
	wants := []string{
		"total fees (Commission + Markup + Scheme Fees + Interchange) 3999999999999999.960 does not fit decimal(18,3)",
		"total fees (Commission + Markup + Scheme Fees + Interchange) -1999999999999999.980 does not fit decimal(18,3)",
		"total fees (Commission + Markup + Scheme Fees + Interchange) 1000000000000000.000 does not fit decimal(18,3)",
	}
	for i, r := range rows[2:] {
		if r.Valid() || !slices.Contains(r.Reasons, wants[i]) {
			t.Errorf("line %d: reasons %q, want %q", r.Line, r.Reasons, wants[i])
		}
	}
}

// TestRecordTypesBounded: the report lists the known types and the MaxListedTypes alphabetically
// smallest unknown ones; every other row is counted under OtherTypes (also types longer than
// MaxTypeBytes, and one literally named like the key), the counts add up to the valid rows, and the
// report is the same however the file is cut into chunks.
func TestRecordTypesBounded(t *testing.T) {
	var rows []map[string]string
	for i := 499; i >= 0; i-- { // descending: every new type is smaller than the listed ones
		rows = append(rows, map[string]string{"Type": fmt.Sprintf("Custom%03d", i)}, map[string]string{"Type": "Settled"})
	}
	rows = append(rows, map[string]string{"Type": strings.Repeat("T", settlement.MaxTypeBytes+1)},
		map[string]string{"Type": settlement.OtherTypes}, map[string]string{"Type": "Custom000"}, map[string]string{"Type": "Custom499"})
	rep, _ := both(t, report(t, rows...), settlement.Policy{BalanceCheck: false})
	if len(rep.UnknownTypes) != settlement.MaxListedTypes || rep.UnknownTypes[0] != "Custom000" || rep.UnknownTypes[99] != "Custom099" {
		t.Errorf("unknown types: %d, %v", len(rep.UnknownTypes), rep.UnknownTypes)
	}
	var sum int64
	for _, n := range rep.Types {
		sum += n
	}
	if sum != rep.Counts.Valid || rep.Types["Settled"] != 500 || rep.Types["Custom000"] != 2 || rep.Types[settlement.OtherTypes] != 400+3 {
		t.Errorf("types: %d listed, sum %d of %d valid rows, Settled %d, Custom000 %d, other %d",
			len(rep.Types), sum, rep.Counts.Valid, rep.Types["Settled"], rep.Types["Custom000"], rep.Types[settlement.OtherTypes])
	}
}

// TestMerchantAccountsBounded: a file of many merchant accounts is a file error that names the first
// few and says "more than" once it stops telling them apart; an account longer than MaxAccountBytes
// is a row error.
func TestMerchantAccountsBounded(t *testing.T) {
	var rows []map[string]string
	for i := range 300 {
		rows = append(rows, map[string]string{"Merchant Account": fmt.Sprintf("Shop%03d", 299-i)})
	}
	rows = append(rows, map[string]string{"Merchant Account": strings.Repeat("M", settlement.MaxAccountBytes+1)},
		map[string]string{"Company Account": strings.Repeat("C", 1000)})
	rep, rejects := both(t, report(t, rows...), settlement.Policy{BalanceCheck: false})
	want := "the file has more than 100 merchant accounts (Shop000, Shop001, Shop002, Shop003, Shop004, …); a settlement batch belongs to one"
	if len(rep.FileErrors) == 0 || rep.FileErrors[0].Message != want {
		t.Errorf("file errors %+v, want %q", rep.FileErrors, want)
	}
	wantReasons := []string{
		`Merchant Account: "` + strings.Repeat("M", 64) + `"…(129 bytes) is longer than 128 bytes`,
		`Company Account: "` + strings.Repeat("C", 64) + `"…(1000 bytes) is longer than 128 bytes`,
	}
	if len(rejects) != 2 || rejects[0].Reasons[0] != wantReasons[0] || rejects[1].Reasons[0] != wantReasons[1] {
		t.Errorf("rejects %+v, want %q", rejects, wantReasons)
	}
}

// TestCurrenciesBoundedByISO4217: currencies are listed only for ISO 4217 codes, since any other code
// is a row error, so a file of thousands of made-up codes lists at most the table's.
func TestCurrenciesBoundedByISO4217(t *testing.T) {
	var rows []map[string]string
	iso := 0
	for _, units := range money.Codes() {
		if units >= 0 {
			iso++
		}
	}
	for i := range 26 * 26 * 4 {
		code := string([]byte{byte('A' + i/26/26%26), byte('A' + i/26%26), byte('A' + i%26)})
		rows = append(rows, map[string]string{"Gross Currency": code, "Net Currency": code, "Gross Credit (GC)": "1", "Net Credit (NC)": "1",
			"Commission (NC)": "", "Markup (NC)": "", "Scheme Fees (NC)": "", "Interchange (NC)": "", "Exchange Rate": ""})
	}
	rep, _ := both(t, report(t, rows...), settlement.Policy{BalanceCheck: false})
	if len(rep.Currencies) == 0 || len(rep.Currencies) > iso || rep.Counts.Valid != int64(len(rep.Currencies)) {
		t.Errorf("%d currencies listed, %d valid rows; the table has %d codes with minor units", len(rep.Currencies), rep.Counts.Valid, iso)
	}
}

// TestReportBounded: a report of many long, bad rows stays small: the sample keeps ten rows with their
// text clipped (the rejects file has every line whole), reasons quote clipped values, and the problem
// the state machine carries stays short.
func TestReportBounded(t *testing.T) {
	long := strings.Repeat("9", 20_000)
	var rows []map[string]string
	for range 20 {
		rows = append(rows, map[string]string{"Batch Number": long, "Gross Currency": long, "Creation Date": long, "TimeZone": long,
			"Exchange Rate": long, "Merchant Reference": strings.Repeat("ü", 10_000), "Company Account": "", "Merchant Account": "",
			"Type": "", "Net Debit (NC)": "x", "Net Credit (NC)": "y", "Commission (NC)": "z"})
	}
	data := report(t, rows...)
	rep, rejects := both(t, data, settlement.DefaultPolicy())
	body, _ := json.Marshal(rep)
	if rep.Counts.Rejected != 20 || len(rep.RejectSample) != 10 || len(body) > 64<<10 || len(rep.Problem()) > 1024 {
		t.Errorf("report of %d bytes with %d samples for %d rejects, problem of %d bytes", len(body), len(rep.RejectSample), rep.Counts.Rejected, len(rep.Problem()))
	}
	lines := strings.Split(string(data), "\n")
	for _, rj := range rep.RejectSample {
		if len(rj.Raw) > 1024 || len(rj.Raw) < 1000 || rj.RawBytes != len(lines[rj.Line-1]) || !strings.HasPrefix(lines[rj.Line-1], rj.Raw) {
			t.Errorf("sample line %d: %d bytes of raw, raw_bytes %d", rj.Line, len(rj.Raw), rj.RawBytes)
		}
		for _, r := range rj.Reasons {
			if len(r) > 256 {
				t.Errorf("sample line %d: a reason of %d bytes: %.100s…", rj.Line, len(r), r)
			}
		}
		if len(rj.Reasons) != 11 || !strings.HasPrefix(rj.Reasons[10], "and ") {
			t.Errorf("sample line %d: %d reasons %q, want 10 and how many more", rj.Line, len(rj.Reasons), rj.Reasons)
		}
	}
	for _, rj := range rejects {
		if rj.Raw != lines[rj.Line-1] || rj.RawBytes != 0 || len(rj.Reasons) <= 10 {
			t.Errorf("rejects file, line %d: %d bytes of raw, want the whole line (%d)", rj.Line, len(rj.Raw), len(lines[rj.Line-1]))
		}
	}
}

// TestRejectsStreamInFileOrder: a file whose rows are all rejected makes each chunk's rejects outgrow
// RejectsBufferBytes, so chunks write them themselves in their turn; the rejects file is still every
// line in file order, byte for byte what a sequential pass writes.
func TestRejectsStreamInFileOrder(t *testing.T) {
	data := bytes.ReplaceAll(generate(t, 30_000, 9), []byte(",CEST,"), []byte(",XYZ,"))
	rd, err := settlement.NewReader(bytes.NewReader(data), settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	rw := settlement.NewRejectWriter(&want)
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if !row.Valid() {
			if err := rw.Write(row); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	block := 1 << 20
	if want.Len() < 3*settlement.RejectsBufferBytes || int64(want.Len()/(len(data)/block+1)) < settlement.RejectsBufferBytes {
		t.Fatalf("%d bytes of rejects: too few for chunks of %d bytes to stream them", want.Len(), block)
	}
	var got bytes.Buffer
	rep, err := settlement.ValidateChunked(bytes.NewReader(data), settlement.ParallelOptions{Workers: 3, BlockBytes: block}, settlement.DefaultPolicy(), &got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) || rep.Counts.Rejected != rd.Counts().Rejected {
		t.Errorf("rejects: %d bytes, %d rejected; want %d bytes, %d", got.Len(), rep.Counts.Rejected, want.Len(), rd.Counts().Rejected)
	}
}
