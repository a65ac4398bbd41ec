package settlement

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSplitComma: the split gives bytes.Split's fields and count for every line, commas at every position
// relative to the eight-byte words it reads, and at most limit fields kept (limit-1 when there are
// more): the rest are only counted.
func TestSplitComma(t *testing.T) {
	var lines [][]byte
	for n := range 40 { // every length, commas at every second and third position
		lines = append(lines, bytes.Repeat([]byte{'a'}, n), bytes.Repeat([]byte{','}, n))
		l := bytes.Repeat([]byte{'x'}, n)
		for i := 0; i < n; i += 2 + i%2 {
			l[i] = ','
		}
		lines = append(lines, l)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 { // random lines of bytes that are commas, their neighbours, zero and 0x80-0xff
		l := make([]byte, rnd.IntN(200))
		for i := range l {
			l[i] = []byte{',', '+', '-', 0, 0x80, 0xac, 0xff, 'a'}[rnd.IntN(8)]
		}
		lines = append(lines, l)
	}
	lines = append(lines, []byte("PaySettleCompany,PaySettleShopEU,8800000000000000,INV 100000; split,klarna,2024-05-01 00:44:16,CEST,Settled,,EUR,,87.73,1,EUR,,86.68,.10,.52,.17,.26,klarna,,142,,,,,,,"))
	for _, line := range lines {
		all := bytes.Split(line, []byte{','})
		for _, limit := range []int{1, 2, 3, 7, 30, 1000} {
			got, n, ascii := splitComma(nil, line, limit)
			want := all
			if len(all) > limit {
				want = all[:limit-1]
			}
			if n != len(all) || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("splitComma(%q, %d) = %q, %d; want %q, %d", line, limit, got, n, want, len(all))
			}
			if ascii && !isASCII(line) || !ascii && len(all) <= limit && isASCII(line) {
				t.Fatalf("splitComma(%q, %d) says ASCII %v", line, limit, ascii)
			}
		}
	}
}

func BenchmarkSplitComma(b *testing.B) {
	line := []byte("PaySettleCompany,PaySettleShopEU,8800000000000000,INV 100000; split,klarna,2024-05-01 00:44:16,CEST,Settled,,EUR,,87.73,1,EUR,,86.68,.10,.52,.17,.26,klarna,,142,,,,,,,")
	var f [][]byte
	for b.Loop() {
		f, _, _ = splitComma(f[:0], line, 30)
	}
}

// sameAsSlow checks that the scanner's record of line is the one its byte-wise state machine (slow)
// makes, keeping limit fields, and reports whether the fast split of quoted lines took it.
func sameAsSlow(t *testing.T, line string, limit int) bool {
	t.Helper()
	sc := &scanner{br: bufio.NewReaderSize(strings.NewReader(line+"\n"), 4096), maxRecord: DefaultMaxRecordBytes, maxFields: limit}
	ref := &scanner{br: bufio.NewReaderSize(strings.NewReader(line+"\n"), 4096), maxRecord: DefaultMaxRecordBytes, maxFields: limit}
	got, gotErr := sc.next()
	chunk, full, err := ref.read()
	if err != nil {
		t.Fatal(err)
	}
	if isBlank(trimEOL(chunk)) {
		return false
	}
	want, wantErr := ref.slow(chunk, full, 1)
	if errors.Is(gotErr, io.EOF) {
		t.Fatalf("line %q: no record", line)
	}
	// A record wider than the limit is rejected for its count: which of its fields are kept differs
	// between the plain split and slow, and matters to no one.
	sameFields := got.NFields > limit || slices.EqualFunc(got.Fields, want.Fields, bytes.Equal)
	if (gotErr != nil) != (wantErr != nil) || got.Line != want.Line || got.NFields != want.NFields ||
		string(got.Raw) != string(want.Raw) || fmt.Sprint(got.Err) != fmt.Sprint(want.Err) || !sameFields {
		t.Fatalf("line %q (limit %d): scanner %d fields %q raw %q err %v; slow %d fields %q raw %q err %v",
			line, limit, got.NFields, got.Fields, got.Raw, got.Err, want.NFields, want.Fields, want.Raw, want.Err)
	}
	return got.Err == nil && strings.Contains(line, "\"") && !strings.ContainsAny(line, "\n") &&
		sc.splitQuoted(trimEOL([]byte(line+"\n")))
}

// TestSplitQuotedIsSlow: for lines with quotes anywhere (opening and closing fields, doubled, stray in
// unquoted text, after a closing quote, unterminated), and for plain ones, the scanner's record is the
// one slow makes: the same fields, count, raw text and error. The fast split must take the well-formed
// quoted lines.
func TestSplitQuotedIsSlow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var lines []string
	for range 20000 {
		b := make([]byte, rnd.IntN(40))
		for i := range b {
			b[i] = "a,\"\" b\r"[rnd.IntN(7)]
		}
		lines = append(lines, string(b))
	}
	for range 2000 { // well-formed: fields quoted or not, with commas and doubled quotes inside quotes
		var fields []string
		for range 1 + rnd.IntN(8) {
			v := []string{"", "x", "a,b", "say \"\"hi\"\"", "\"\"", "1.5"}[rnd.IntN(6)]
			if strings.Contains(v, ",") || strings.Contains(v, "\"") || rnd.IntN(2) == 0 {
				v = "\"" + v + "\""
			}
			fields = append(fields, v)
		}
		lines = append(lines, strings.Join(fields, ","))
	}
	lines = append(lines, "", ",", "\"\"", "\"a\",", "\"a\"\"\",b", "a\"b,\"c\"", "\"a\"b,c", "\"abc", "\"a,b\",\"c\"\"\",,d")
	fast := 0
	for _, line := range lines {
		sameAsSlow(t, line, 3)
		if sameAsSlow(t, line, MaxColumns) {
			fast++
		}
	}
	if fast < 2000 {
		t.Errorf("the fast split took %d quoted lines, want at least the 2000 well-formed ones", fast)
	}
}

// FuzzSplitQuoted: any line without a line break gives the record slow gives.
func FuzzSplitQuoted(f *testing.F) {
	for _, s := range []string{"\"a,b\",c", "\"a\"\"b\",", "a\"b,\"c", "\"x\"y", ",\"\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\n") {
			return
		}
		sameAsSlow(t, line, 3)
		sameAsSlow(t, line, MaxColumns)
	})
}
