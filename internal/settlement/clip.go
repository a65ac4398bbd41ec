package settlement

import (
	"strconv"
	"unicode/utf8"
)

// quoteValue quotes a value for a reason or message, clipped to its first valueKeep bytes (on a
// character boundary) with its length after it: a reason names the bad value without copying a
// megabyte of it into the rejects file, the report and the error the state machine carries.
func quoteValue[T string | []byte](v T) string {
	if len(v) <= valueKeep {
		return strconv.Quote(string(v))
	}
	return strconv.Quote(string(clipUTF8(v, valueKeep))) + "…(" + strconv.Itoa(len(v)) + " bytes)"
}

// valueKeep is how much of a value quoteValue shows.
const valueKeep = 64

// clipUTF8 returns at most n bytes of v, cut before a character that does not fit.
func clipUTF8[T string | []byte](v T, n int) T {
	if len(v) <= n {
		return v
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i]
}
