package money

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed iso4217.txt
var iso4217 string

// Minor-unit sentinels of the lookup table.
const (
	unknownCurrency = -1 // not an ISO 4217 code
	noMinorUnit     = -2 // an ISO code without a minor unit (XAU, XXX, …)
)

// minorUnits is indexed by the three letters of a code (26³ entries), so a lookup from the bytes of a CSV
// field needs no allocation and no hashing.
var minorUnits = func() [26 * 26 * 26]int8 {
	var t [26 * 26 * 26]int8
	for i := range t {
		t[i] = unknownCurrency
	}
	for _, line := range strings.Split(iso4217, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		code, units, ok := strings.Cut(line, " ")
		idx, valid := index([]byte(code))
		if !ok || !valid {
			panic(fmt.Sprintf("money: bad iso4217.txt line %q", line))
		}
		switch units {
		case "N.A.":
			t[idx] = noMinorUnit
		default:
			if len(units) != 1 || units[0] < '0' || units[0] > '4' {
				panic(fmt.Sprintf("money: bad iso4217.txt line %q", line))
			}
			t[idx] = int8(units[0] - '0')
		}
	}
	return t
}()

func index(code []byte) (int, bool) {
	if len(code) != 3 {
		return 0, false
	}
	n := 0
	for _, c := range code {
		if c < 'A' || c > 'Z' {
			return 0, false
		}
		n = n*26 + int(c-'A')
	}
	return n, true
}

// CurrencyError says why a currency code cannot carry an amount.
type CurrencyError struct {
	Code   string
	Reason string
}

func (e *CurrencyError) Error() string { return "currency " + quote(e.Code) + " " + e.Reason }

// quote quotes a code, clipped: a "code" can be a whole field of garbage, and the message goes into
// reports and errors of bounded size.
func quote(s string) string {
	if len(s) > 16 {
		return fmt.Sprintf("%q…(%d bytes)", s[:16], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// MinorUnits returns the number of fraction digits an amount in code may carry, capped at Scale (the
// output's decimal(18,3)). Unknown codes and codes without a minor unit are errors.
func MinorUnits(code []byte) (int, error) {
	idx, ok := index(code)
	if !ok {
		return 0, &CurrencyError{Code: string(code), Reason: "is not an ISO 4217 code"}
	}
	switch u := minorUnits[idx]; u {
	case unknownCurrency:
		return 0, &CurrencyError{Code: string(code), Reason: "is not an ISO 4217 code"}
	case noMinorUnit:
		return 0, &CurrencyError{Code: string(code), Reason: "has no minor unit in ISO 4217 and is not a settlement currency"}
	default:
		return min(int(u), Scale), nil
	}
}

// Codes returns every ISO 4217 code of the embedded table with its minor units (-1 for N.A.), for
// documentation and tests.
func Codes() map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(iso4217, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		code, units, _ := strings.Cut(line, " ")
		if units == "N.A." {
			out[code] = -1
		} else {
			out[code] = int(units[0] - '0')
		}
	}
	return out
}
