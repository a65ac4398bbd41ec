package table

import (
	"bytes"
	"testing"
)

// Two values of up to 24 bytes have the same key only if they are equal: the dictionaries compare the
// keys instead of the bytes.
func TestStrKeyTellsValuesApart(t *testing.T) {
	var values [][]byte
	for n := 0; n <= 25; n++ {
		base := bytes.Repeat([]byte{'a'}, n)
		values = append(values, base, bytes.Repeat([]byte{0}, n))
		for i := range n { // each position changed alone
			v := bytes.Clone(base)
			v[i] = 'b'
			values = append(values, v)
		}
	}
	for i, v := range values {
		for _, w := range values[i+1:] {
			kv, kw := keyOf(v), keyOf(w)
			if kv.short() && kw.short() && kv.a == kw.a && kv.b == kw.b && kv.c == kw.c && kv.n == kw.n && !bytes.Equal(v, w) {
				t.Errorf("%q and %q have the same key", v, w)
			}
		}
	}
	d := newStrDict()
	for row, v := range values {
		d.add(row, v, true)
	}
	for row, v := range values {
		if got := d.value(d.indices[row]); !bytes.Equal(got, v) {
			t.Errorf("row %d: %q, want %q", row, got, v)
		}
	}
}
