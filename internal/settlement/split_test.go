package settlement

import (
	"bytes"
	"math/rand/v2"
	"slices"
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
			got, n := splitComma(nil, line, limit)
			want := all
			if len(all) > limit {
				want = all[:limit-1]
			}
			if n != len(all) || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("splitComma(%q, %d) = %q, %d; want %q, %d", line, limit, got, n, want, len(all))
			}
		}
	}
}

func BenchmarkSplitComma(b *testing.B) {
	line := []byte("PaySettleCompany,PaySettleShopEU,8800000000000000,INV 100000; split,klarna,2024-05-01 00:44:16,CEST,Settled,,EUR,,87.73,1,EUR,,86.68,.10,.52,.17,.26,klarna,,142,,,,,,,")
	var f [][]byte
	for b.Loop() {
		f, _ = splitComma(f[:0], line, 30)
	}
}
