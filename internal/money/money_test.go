package money

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in       string
		maxScale int
		signed   bool
		want     Amount
		err      error
	}{
		{"1234.56", 2, false, 1234560, nil},
		{".91", 2, false, 910, nil},
		{"0.91", 2, false, 910, nil},
		{"3158", 0, false, 3158000, nil},
		{"3158.00", 0, false, 3158000, nil}, // trailing zeros carry no minor unit
		{"3158.5", 0, false, 0, ErrTooPrecise},
		{"1.234", 3, false, 1234, nil},
		{"1.2345", 3, false, 0, ErrTooPrecise},
		{"1.2340", 3, false, 1234, nil},
		{"1234.567", 2, false, 0, ErrTooPrecise}, // arrow's FromString would round this to 1234.57
		{"-0.30", 2, true, -300, nil},
		{"-0.30", 2, false, 0, ErrNegative},
		{"0", 2, false, 0, nil},
		{"000012.5", 2, false, 12500, nil},
		{"999999999999999.999", 3, false, 999999999999999999, nil},
		{"1000000000000000", 3, false, 0, ErrOutOfRange},
		{"", 2, false, 0, ErrSyntax},
		{"-", 2, true, 0, ErrSyntax},
		{".", 2, false, 0, ErrSyntax},
		{"1.", 2, false, 0, ErrSyntax},
		{"+1", 2, false, 0, ErrSyntax},
		{"1e3", 2, false, 0, ErrSyntax},
		{"1,000.00", 2, false, 0, ErrSyntax},
		{" 1", 2, false, 0, ErrSyntax},
		{"1.2.3", 2, false, 0, ErrSyntax},
		{"--1", 2, true, 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := ParseAmount([]byte(tt.in), tt.maxScale, tt.signed)
		if !errors.Is(err, tt.err) || (tt.err == nil && got != tt.want) {
			t.Errorf("ParseAmount(%q, %d, %v) = %d, %v; want %d, %v", tt.in, tt.maxScale, tt.signed, got, err, tt.want, tt.err)
		}
	}
}

func TestScaleErrorMessage(t *testing.T) {
	_, err := ParseAmount([]byte("10.5"), 0, false)
	if err == nil || err.Error() != "has 1 fraction digits, at most 0 allowed" {
		t.Fatalf("err = %v", err)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		a      Amount
		digits int
		want   string
	}{
		{1234560, 2, "1234.56"},
		{3158000, 0, "3158"},
		{3158500, 0, "3158.5"}, // never hides a sub-unit amount
		{-300, 2, "-0.30"},
		{1, 3, "0.001"},
		{0, 2, "0.00"},
		{-999999999999999999, 3, "-999999999999999.999"},
	}
	for _, tt := range tests {
		if got := tt.a.Format(tt.digits); got != tt.want {
			t.Errorf("Amount(%d).Format(%d) = %q, want %q", tt.a, tt.digits, got, tt.want)
		}
	}
}

func TestAddOverflow(t *testing.T) {
	if _, err := Add(math.MaxInt64-1, 2); !errors.Is(err, ErrSumOverflows) {
		t.Errorf("Add near MaxInt64: err = %v", err)
	}
	if _, err := Add(math.MinInt64+1, -2); !errors.Is(err, ErrSumOverflows) {
		t.Errorf("Add near MinInt64: err = %v", err)
	}
	if s, err := Add(5, -7); err != nil || s != -2 {
		t.Errorf("Add(5,-7) = %d, %v", s, err)
	}
	// decimal(18,3) is the bound, not int64: a 19-digit sum is an error too.
	if s, err := Add(MaxAmount-1, 1); err != nil || s != MaxAmount || !s.InRange() {
		t.Errorf("Add up to MaxAmount = %s, %v", s, err)
	}
	if _, err := Add(MaxAmount, 1); !errors.Is(err, ErrSumOverflows) {
		t.Errorf("Add past MaxAmount: err = %v", err)
	}
	if _, err := Add(-MaxAmount, -1); !errors.Is(err, ErrSumOverflows) {
		t.Errorf("Add past -MaxAmount: err = %v", err)
	}
	if a, err := ParseAmount([]byte("999999999999999.999"), 3, false); err != nil || a != MaxAmount {
		t.Errorf("the largest amount parses to %d, %v; MaxAmount is %d", a, err, MaxAmount)
	}
}

// TestCurrencyErrorClipped: a "code" that is a whole field of garbage is named by its start and length.
func TestCurrencyErrorClipped(t *testing.T) {
	_, err := MinorUnits(bytes.Repeat([]byte("E"), 1<<20))
	if want := `currency "EEEEEEEEEEEEEEEE"…(1048576 bytes) is not an ISO 4217 code`; err == nil || err.Error() != want {
		t.Errorf("err = %.200v, want %q", err, want)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{"1", "1.0", nil},
		{"1.123456789012345", "1.123456789012345", nil},
		{"150.123456789012345", "150.123456789012345", nil},
		{"0.000000000000000001", "0.000000000000000001", nil},
		{"12345678901234567890.123456789012345678", "12345678901234567890.123456789012345678", nil},
		{"123456789012345678901", "", ErrOutOfRange},
		{"1.1234567890123456789", "", ErrTooPrecise},
		{"0", "", ErrZeroRate},
		{"0.000", "", ErrZeroRate},
		{"-1.2", "", ErrNegative},
		{"1e5", "", ErrSyntax},
		{"", "", ErrSyntax},
		{"1.", "", ErrSyntax},
	}
	for _, tt := range tests {
		got, err := ParseRate([]byte(tt.in))
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseRate(%q) err = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if tt.err == nil && got.String() != tt.want {
			t.Errorf("ParseRate(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRateExactAgainstBigInt(t *testing.T) {
	in := "98765.123456789012345" // 15 decimals, more than an int64 holds at scale 18
	r, err := ParseRate([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := new(big.Int).SetString(strings.Replace(in, ".", "", 1)+strings.Repeat("0", RateScale-15), 10)
	got := new(big.Int).SetUint64(r.Hi)
	got.Lsh(got, 64).Or(got, new(big.Int).SetUint64(r.Lo))
	if got.Cmp(want) != 0 {
		t.Fatalf("ParseRate(%s) = %s, want %s", in, got, want)
	}
	if r.IsOne() {
		t.Error("IsOne true for a non-one rate")
	}
	one, _ := ParseRate([]byte("1.000000000000000"))
	if !one.IsOne() {
		t.Error("IsOne false for 1.000000000000000")
	}
}

func TestMinorUnits(t *testing.T) {
	tests := []struct {
		code string
		want int
		ok   bool
	}{
		{"EUR", 2, true}, {"JPY", 0, true}, {"KWD", 3, true}, {"BHD", 3, true}, {"KRW", 0, true},
		{"CLF", 3, true}, // 4 in ISO, capped to the output's scale
		{"XAU", 0, false}, {"XXX", 0, false}, {"ABC", 0, false}, {"eur", 0, false}, {"EU", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := MinorUnits([]byte(tt.code))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("MinorUnits(%q) = %d, %v; want %d ok=%v", tt.code, got, err, tt.want, tt.ok)
		}
	}
}

func TestTableIsComplete(t *testing.T) {
	codes := Codes()
	if len(codes) < 175 {
		t.Fatalf("table has %d codes, want the complete ISO 4217 list", len(codes))
	}
	for code, units := range codes {
		if _, err := MinorUnits([]byte(code)); (err == nil) != (units >= 0) {
			t.Errorf("MinorUnits(%s) err = %v with table units %d", code, err, units)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1.5", ".91", "3158", "-0.30", "999999999999999.999", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount([]byte(s), 3, true)
		if err != nil {
			return
		}
		// Whatever parses must format back to the same value.
		b, err := ParseAmount([]byte(a.String()), 3, true)
		if err != nil || a != b {
			t.Fatalf("%q parsed to %d, formatted %q, reparsed %d, %v", s, a, a.String(), b, err)
		}
	})
}
