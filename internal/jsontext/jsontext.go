// Package jsontext writes JSON string literals into byte slices without reflection or allocation: the
// local engine's JSON (package engine) and the rows' extra column (package settlement) write one per
// value, millions of times for a large report, where encoding/json would allocate for each.
package jsontext

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal and reports whether s was valid UTF-8 (an invalid
// byte is written as U+FFFD, as encoding/json does). With htmlSafe, <, > and & are escaped as well,
// as encoding/json does by default; U+2028 and U+2029 always are.
func AppendString[T string | []byte](dst []byte, s T, htmlSafe bool) ([]byte, bool) {
	dst = append(dst, '"')
	valid := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || htmlSafe && (c == '<' || c == '>' || c == '&'):
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case r == utf8.RuneError && size == 1:
			valid = false
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"'), valid
}
