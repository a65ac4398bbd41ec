// Package money holds the exact decimal types of the pipeline: amounts in thousandths of a currency unit
// (the scale of the output's decimal(18,3) columns), exchange rates at scale 18 (decimal(38,18)), and the
// ISO 4217 table of minor units. There is no float anywhere on this path: text is parsed digit by digit
// into integers, and a value with more digits than the target type holds is an error, never rounded.
package money

import (
	"errors"
	"math/big"
	"math/bits"
	"strconv"
)

// Scale is the number of fraction digits of an Amount.
const Scale = 3

// MaxIntDigits is the number of integer digits an Amount holds: decimal(18,3) leaves 15.
const MaxIntDigits = 15

// Amount is a decimal amount in thousandths of a currency unit: 12.5 is Amount(12500).
// Every value of decimal(18,3) fits in an int64.
type Amount int64

// MaxAmount is the largest value of decimal(18,3): 999999999999999.999. A parsed amount never passes
// it; a sum or difference of amounts may, and must then be checked with InRange before it is written.
const MaxAmount Amount = 999_999_999_999_999_999

// InRange reports whether a fits decimal(18,3).
func (a Amount) InRange() bool { return a >= -MaxAmount && a <= MaxAmount }

// Errors of ParseAmount and ParseRate. They are values so a hot loop can compare them without allocating.
var (
	ErrSyntax       = errors.New("not a decimal number")
	ErrNegative     = errors.New("negative amount where only unsigned amounts are allowed")
	ErrTooPrecise   = errors.New("more fraction digits than allowed")
	ErrOutOfRange   = errors.New("too many integer digits")
	ErrZeroRate     = errors.New("exchange rate is zero")
	ErrSumOverflows = errors.New("sum does not fit decimal(18,3)")
)

// ScaleError reports a value with more fraction digits than its currency allows.
type ScaleError struct {
	Digits, Max int
}

func (e *ScaleError) Error() string {
	return "has " + strconv.Itoa(e.Digits) + " fraction digits, at most " + strconv.Itoa(e.Max) + " allowed"
}

// Is lets errors.Is(err, ErrTooPrecise) match a *ScaleError.
func (e *ScaleError) Is(target error) bool { return target == ErrTooPrecise }

// ParseAmount parses a plain decimal ("1234", "1234.5", ".91") with at most maxScale fraction digits
// (0..Scale) and at most MaxIntDigits integer digits. A leading '-' is accepted only when signed is true.
// Signs '+', exponents, grouping separators and spaces are syntax errors.
func ParseAmount(s []byte, maxScale int, signed bool) (Amount, error) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		if !signed {
			return 0, ErrNegative
		}
		neg = true
		s = s[1:]
	}
	if len(s) == 0 || s[len(s)-1] == '.' {
		return 0, ErrSyntax
	}
	var v int64
	intDigits, fracDigits := 0, 0
	seenDot, seenDigit := false, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			switch {
			case !seenDot:
				if v == 0 && c == '0' {
					continue // leading zeros hold no digit
				}
				intDigits++
				if intDigits > MaxIntDigits {
					return 0, ErrOutOfRange
				}
				v = v*10 + int64(c-'0')
			case fracDigits < Scale:
				fracDigits++
				v = v*10 + int64(c-'0')
			case c != '0':
				return 0, &ScaleError{Digits: significantFrac(s), Max: maxScale}
			}
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return 0, ErrSyntax
		}
	}
	if !seenDigit {
		return 0, ErrSyntax
	}
	if fracDigits > maxScale { // digits past Scale are zeros here, so only the first Scale can matter
		if sig := significantFrac(s); sig > maxScale {
			return 0, &ScaleError{Digits: sig, Max: maxScale}
		}
	}
	for i := fracDigits; i < Scale; i++ {
		v *= 10
	}
	if neg {
		v = -v
	}
	return Amount(v), nil
}

// countFrac counts the digits after the dot.
func countFrac(s []byte) int {
	for i, c := range s {
		if c == '.' {
			return len(s) - i - 1
		}
	}
	return 0
}

// significantFrac counts fraction digits up to the last non-zero one: "1.50" has 1, "3158.00" has 0.
// A trailing zero does not make a JPY amount invalid, a non-zero minor digit does.
func significantFrac(s []byte) int {
	dot := -1
	for i, c := range s {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return 0
	}
	end := len(s)
	for end > dot+1 && s[end-1] == '0' {
		end--
	}
	return end - dot - 1
}

// String formats the amount with all three decimals.
func (a Amount) String() string { return a.Format(Scale) }

// Format formats the amount with exactly digits fraction digits (0..3). Digits below that are dropped only
// when they are zero; a value that needs them keeps them, so Format never hides a sub-unit amount.
func (a Amount) Format(digits int) string {
	v := int64(a)
	neg := v < 0
	var u uint64
	if neg {
		u = uint64(-v)
	} else {
		u = uint64(v)
	}
	intPart, frac := u/1000, u%1000
	for digits < Scale && frac%pow10[Scale-digits] != 0 {
		digits++
	}
	b := make([]byte, 0, 24)
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, intPart, 10)
	if digits > 0 {
		b = append(b, '.')
		f := frac / pow10[Scale-digits]
		s := strconv.FormatUint(f, 10)
		for i := len(s); i < digits; i++ {
			b = append(b, '0')
		}
		b = append(b, s...)
	}
	return string(b)
}

var pow10 = [...]uint64{1, 10, 100, 1000}

// Add returns a+b, or ErrSumOverflows when the sum does not fit decimal(18,3). Sums over millions of
// rows stay far inside it for any real settlement batch, but an overflow must be an error, not a wrapped
// or 19-digit number.
func Add(a, b Amount) (Amount, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) || !s.InRange() {
		return 0, ErrSumOverflows
	}
	return s, nil
}

// NullAmount is an Amount that may be absent: an empty cell is null, not zero.
type NullAmount struct {
	V     Amount
	Valid bool
}

// RateScale is the number of fraction digits of a Rate (decimal(38,18)).
const RateScale = 18

// MaxRateIntDigits is the number of integer digits a Rate holds: decimal(38,18) leaves 20.
const MaxRateIntDigits = 20

// Rate is an exchange rate scaled by 10^18, unsigned, held in 128 bits (Hi, Lo).
type Rate struct {
	Hi, Lo uint64
}

// ParseRate parses a positive decimal with at most RateScale fraction digits and MaxRateIntDigits integer
// digits, exactly.
func ParseRate(s []byte) (Rate, error) {
	if len(s) == 0 {
		return Rate{}, ErrSyntax
	}
	var hi, lo uint64
	intDigits, fracDigits := 0, 0
	seenDot, seenDigit, leading := false, false, true
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			if seenDot {
				fracDigits++
				if fracDigits > RateScale {
					return Rate{}, &ScaleError{Digits: countFrac(s), Max: RateScale}
				}
			} else {
				if leading && c == '0' {
					continue
				}
				leading = false
				intDigits++
				if intDigits > MaxRateIntDigits {
					return Rate{}, ErrOutOfRange
				}
			}
			hi, lo = mulAdd128(hi, lo, 10, uint64(c-'0'))
		case c == '.' && !seenDot:
			seenDot = true
		case c == '-':
			return Rate{}, ErrNegative
		default:
			return Rate{}, ErrSyntax
		}
	}
	if !seenDigit || s[len(s)-1] == '.' {
		return Rate{}, ErrSyntax
	}
	for i := fracDigits; i < RateScale; i++ {
		hi, lo = mulAdd128(hi, lo, 10, 0)
	}
	if hi == 0 && lo == 0 {
		return Rate{}, ErrZeroRate
	}
	return Rate{Hi: hi, Lo: lo}, nil
}

// mulAdd128 returns (hi,lo)*m + a. Callers bound the digit count so it never overflows 127 bits.
func mulAdd128(hi, lo, m, a uint64) (uint64, uint64) {
	h, l := bits.Mul64(lo, m)
	h += hi * m
	l, c := bits.Add64(l, a, 0)
	return h + c, l
}

// IsOne reports whether the rate is exactly 1.
func (r Rate) IsOne() bool { return r.Hi == 0 && r.Lo == 1_000_000_000_000_000_000 }

// String formats the rate with all 18 fraction digits, trailing zeros removed (at least one kept).
func (r Rate) String() string {
	v := new(big.Int).SetUint64(r.Hi)
	v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(r.Lo))
	s := v.String()
	for len(s) <= RateScale {
		s = "0" + s
	}
	i, f := s[:len(s)-RateScale], s[len(s)-RateScale:]
	for len(f) > 1 && f[len(f)-1] == '0' {
		f = f[:len(f)-1]
	}
	return i + "." + f
}

// NullRate is a Rate that may be absent.
type NullRate struct {
	V     Rate
	Valid bool
}
