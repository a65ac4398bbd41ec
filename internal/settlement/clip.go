package settlement

import "unicode/utf8"

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
