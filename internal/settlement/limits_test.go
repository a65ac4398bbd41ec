package settlement_test

import (
	"bytes"
	"encoding/json"
	"errors"
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
