package jsontext_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paysettle/settle/internal/jsontext"
)

// The literal decodes to the string (invalid bytes to U+FFFD) and, HTML-safe, matches encoding/json.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\x00\x1f\x7f",
		"<a href='x'>&amp;</a>", "ü € 𝄞", "line\u2028para\u2029", "bad \xff byte", "cut \xe2\x82"} {
		got, valid := jsontext.AppendString(nil, s, true)
		want, _ := json.Marshal(s)
		if string(got) != string(want) {
			t.Errorf("AppendString(%q, html) = %s, want %s", s, got, want)
		}
		if valid != utf8.ValidString(s) {
			t.Errorf("AppendString(%q) valid = %v", s, valid)
		}
		plain, _ := jsontext.AppendString([]byte("x"), []byte(s), false)
		var back, decoded string
		_ = json.Unmarshal(want, &decoded)
		if err := json.Unmarshal(plain[1:], &back); err != nil || back != decoded {
			t.Errorf("AppendString(%q) = %s decodes to %q, %v", s, plain[1:], back, err)
		}
		if strings.ContainsAny(s, "<>&") && !strings.ContainsAny(string(plain), "<>&") {
			t.Errorf("AppendString(%q) without html escaped <, > or &: %s", s, plain)
		}
	}
}
