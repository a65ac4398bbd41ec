package table_test

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

// fixture is what a report fixture's valid rows are, read once: a row's byte fields point into the
// reader's buffers, so each row is appended to the builders as it is read.
type fixture struct {
	lines    []int64
	batch    int64
	merchant string
	methods  []string // payment method of each row, "" when empty
	types    []string
	markups  []*int64 // nil when empty
}

// build appends the valid rows of a report fixture to the builders made by newBuilder once the first
// valid row tells the batch.
func build(t *testing.T, name string, newBuilder func(merchant string, batch int64) []*table.Builder) fixture {
	t.Helper()
	f, err := os.Open("../settlement/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := settlement.NewReader(f, settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	var bs []*table.Builder
	for {
		row, err := rd.Next()
		if err == io.EOF {
			return fx
		}
		if err != nil {
			t.Fatal(err)
		}
		if !row.Valid() {
			continue
		}
		if bs == nil {
			fx.merchant, fx.batch = string(row.MerchantAccount), row.BatchNumber
			bs = newBuilder(fx.merchant, fx.batch)
		}
		for _, b := range bs {
			if err := b.Append(row); err != nil {
				t.Fatal(err)
			}
		}
		fx.lines = append(fx.lines, row.Line)
		fx.methods = append(fx.methods, string(row.PaymentMethod))
		fx.types = append(fx.types, string(row.Type))
		var markup *int64
		if row.Markup.Valid {
			v := int64(row.Markup.V)
			markup = &v
		}
		fx.markups = append(fx.markups, markup)
	}
}

func TestBuilderBuildsTheSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := table.Source{Provider: settlement.ProviderAdyen, Key: "incoming/default30.csv", ETag: "0123456789abcdef0123456789abcdef"}
	var b, b2 *table.Builder
	fx := build(t, "default30.csv", func(merchant string, batch int64) []*table.Builder {
		// Two builders given the same rows must build the same record ids (they derive from the batch and line).
		b = table.NewBuilder(mem, src, settlement.NewRecordIDs(src.Provider, merchant, batch))
		b2 = table.NewBuilder(mem, src, settlement.NewRecordIDs(src.Provider, merchant, batch))
		return []*table.Builder{b, b2}
	})
	if b == nil {
		t.Fatal("fixture has no valid rows")
	}
	defer b.Release()
	defer b2.Release()
	n := len(fx.lines)
	if b.Len() != n {
		t.Errorf("Len = %d, want %d", b.Len(), n)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if rec.NumRows() != int64(n) || int(rec.NumCols()) != len(table.Columns) {
		t.Fatalf("batch of %d rows × %d columns, want %d × %d", rec.NumRows(), rec.NumCols(), n, len(table.Columns))
	}
	for i, c := range table.Columns {
		f := rec.Schema().Field(i)
		if f.Name != c.Name || !arrow.TypeEqual(f.Type, c.Type) || f.Nullable != c.Nullable {
			t.Errorf("column %d = %s %s (nullable %v), want %s %s (nullable %v)", i, f.Name, f.Type, f.Nullable, c.Name, c.Type, c.Nullable)
		}
		if !c.Nullable && rec.Column(i).NullN() != 0 {
			t.Errorf("non-nullable %s has %d nulls", c.Name, rec.Column(i).NullN())
		}
	}
	str := func(a arrow.Array, i int) string {
		if d, ok := a.(*array.Dictionary); ok {
			return d.Dictionary().(*array.String).Value(d.GetValueIndex(i))
		}
		return a.(*array.String).Value(i)
	}
	if got := str(rec.Column(indexOf("provider")), n-1); got != "adyen" {
		t.Errorf("provider = %q", got)
	}
	if got := str(rec.Column(indexOf("merchant_account")), n-1); got != fx.merchant {
		t.Errorf("merchant_account = %q, want %q", got, fx.merchant)
	}
	if got := str(rec.Column(indexOf("source_key")), 0); got != src.Key {
		t.Errorf("source_key = %q", got)
	}
	for i, line := range fx.lines {
		if got := rec.Column(indexOf("source_line")).(*array.Int64).Value(i); got != line {
			t.Fatalf("source_line of row %d = %d, want %d", i, got, line)
		}
	}
	batch := rec.Column(indexOf("batch_number")).(*array.Dictionary)
	if got := batch.Dictionary().(*array.Int64).Value(batch.GetValueIndex(n - 1)); got != fx.batch {
		t.Errorf("batch_number = %d, want %d", got, fx.batch)
	}
	rec2 := b2.NewRecordBatch()
	defer rec2.Release()
	ids := map[string]bool{}
	for i := range n {
		a, b := str(rec.Column(indexOf("record_id")), i), str(rec2.Column(indexOf("record_id")), i)
		if a != b || a == "" {
			t.Fatalf("record_id of row %d: %q then %q", i, a, b)
		}
		ids[a] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct record ids for %d rows", len(ids), n)
	}
}

func indexOf(name string) int {
	for i, c := range table.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// A builder holds the rows of one merchant account: a row of another is refused.
func TestBuilderRefusesAnotherMerchant(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := table.NewBuilder(mem, table.Source{Provider: "adyen", Key: "k", ETag: "e"}, settlement.NewRecordIDs("adyen", "AcmeShopNL", 1))
	defer b.Release()
	f, err := os.Open("../settlement/testdata/default30.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := settlement.NewReader(f, settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var appended int
	for {
		row, err := rd.Next()
		if err != nil {
			break
		}
		if !row.Valid() {
			continue
		}
		if appended == 1 {
			row.MerchantAccount = []byte("SomeoneElse")
			if err := b.Append(row); err == nil {
				t.Error("a row of another merchant account was appended")
			}
			return
		}
		if err := b.Append(row); err != nil {
			t.Fatal(err)
		}
		appended++
	}
	t.Fatal("the fixture has fewer than two valid rows")
}

// Dictionary columns hold each distinct value once, in order of first appearance, and an index per row;
// an empty value is null in a nullable column and the empty string in a required one.
func TestBuilderDictionaries(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var b *table.Builder
	fx := build(t, "quirks.csv", func(merchant string, batch int64) []*table.Builder {
		b = table.NewBuilder(mem, table.Source{Provider: "adyen", Key: "k", ETag: "e"}, settlement.NewRecordIDs("adyen", merchant, batch))
		return []*table.Builder{b}
	})
	if b == nil {
		t.Fatal("fixture has no valid rows")
	}
	defer b.Release()
	rec := b.NewRecordBatch()
	defer rec.Release()
	check := func(name string, want []string, value func(d *array.Dictionary, i int) string) {
		t.Helper()
		d := rec.Column(indexOf(name)).(*array.Dictionary)
		seen := map[string]bool{}
		var order []string
		for i, w := range want {
			if w == "" {
				if !d.IsNull(i) {
					t.Errorf("%s of row %d = %q, want null", name, i, value(d, i))
				}
				continue
			}
			if d.IsNull(i) {
				t.Errorf("%s of row %d is null, want %q", name, i, w)
				continue
			}
			if got := value(d, i); got != w {
				t.Errorf("%s of row %d = %q, want %q", name, i, got, w)
			}
			if !seen[w] {
				seen[w] = true
				order = append(order, w)
			}
		}
		if d.Dictionary().Len() != len(order) {
			t.Fatalf("%s: dictionary of %d values, want the %d distinct ones", name, d.Dictionary().Len(), len(order))
		}
		for j, w := range order {
			var got string
			switch v := d.Dictionary().(type) {
			case *array.String:
				got = v.Value(j)
			case *array.Decimal64:
				got = fmt.Sprint(int64(v.Value(j)))
			}
			if got != w {
				t.Errorf("%s: dictionary entry %d = %q, want %q (order of first appearance)", name, j, got, w)
			}
		}
	}
	str := func(d *array.Dictionary, i int) string {
		return d.Dictionary().(*array.String).Value(d.GetValueIndex(i))
	}
	check("payment_method", fx.methods, str)
	check("record_type", fx.types, str)
	markups := make([]string, len(fx.markups))
	for i, m := range fx.markups {
		if m != nil {
			markups[i] = fmt.Sprint(*m)
		}
	}
	check("markup", markups, func(d *array.Dictionary, i int) string {
		return fmt.Sprint(int64(d.Dictionary().(*array.Decimal64).Value(d.GetValueIndex(i))))
	})
}

// Thousands of distinct values, in two batches, fill and grow the dictionaries' hash tables: every row
// still reads back its own value, and each batch's dictionary holds its distinct values once, in order
// of first appearance.
func TestBuilderManyDistinctValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := table.NewBuilder(mem, table.Source{Provider: "adyen", Key: "k", ETag: "e"}, settlement.NewRecordIDs("adyen", "M", 1))
	defer b.Release()
	method := func(i int) string {
		switch j := (i * 7919) % 3001; {
		case j < 6: // values that differ only in trailing zero bytes, or in the 17th or 25th
			return []string{"m", "m\x00", "0123456789abcdef", "0123456789abcdefg", "0123456789abcdefghijklmn", "0123456789abcdefghijklmno"}[j]
		case j%2 == 0:
			return fmt.Sprintf("method-%d", j)
		default:
			return fmt.Sprintf("a payment method longer than sixteen bytes %d", j)
		}
	}
	markup := func(i int) (int64, bool) { return int64((i * 104729) % 5003), i%11 != 0 }
	rate := func(i int) money.Rate { return money.Rate{Lo: uint64((i * 31) % 2003), Hi: uint64(i % 2)} }
	for batch := range 2 {
		const n = 20_000
		for i := range n {
			m, ok := markup(i + batch)
			r := settlement.Row{Line: int64(i + 2), MerchantAccount: []byte("M"), Type: []byte("Settled"),
				PaymentMethod: []byte(method(i + batch)), Markup: money.NullAmount{V: money.Amount(m), Valid: ok},
				ExchangeRate: money.NullRate{V: rate(i + batch), Valid: true}}
			if err := b.Append(&r); err != nil {
				t.Fatal(err)
			}
		}
		rec := b.NewRecordBatch()
		methods := rec.Column(indexOf("payment_method")).(*array.Dictionary)
		markups := rec.Column(indexOf("markup")).(*array.Dictionary)
		rates := rec.Column(indexOf("exchange_rate")).(*array.Dictionary)
		seen := map[string]int{}
		for i := range n {
			want := method(i + batch)
			if got := methods.Dictionary().(*array.String).Value(methods.GetValueIndex(i)); got != want {
				t.Fatalf("batch %d row %d: payment_method %q, want %q", batch, i, got, want)
			}
			if _, ok := seen[want]; !ok {
				seen[want] = len(seen)
			}
			if j := methods.GetValueIndex(i); j != seen[want] {
				t.Fatalf("batch %d row %d: %q at dictionary index %d, want %d (order of first appearance)", batch, i, want, j, seen[want])
			}
			m, ok := markup(i + batch)
			if markups.IsValid(i) != ok || ok && int64(markups.Dictionary().(*array.Decimal64).Value(markups.GetValueIndex(i))) != m {
				t.Fatalf("batch %d row %d: markup wrong, want %d (valid %v)", batch, i, m, ok)
			}
			got := rates.Dictionary().(*array.Decimal128).Value(rates.GetValueIndex(i))
			if want := rate(i + batch); got.LowBits() != want.Lo || uint64(got.HighBits()) != want.Hi {
				t.Fatalf("batch %d row %d: exchange rate %v, want %v", batch, i, got, want)
			}
		}
		if methods.Dictionary().Len() != len(seen) || markups.Dictionary().Len() != 5003 || rates.Dictionary().Len() != 2*2003 {
			t.Errorf("batch %d: dictionaries of %d methods, %d markups, %d rates; want %d, 5003, %d",
				batch, methods.Dictionary().Len(), markups.Dictionary().Len(), rates.Dictionary().Len(), len(seen), 2*2003)
		}
		rec.Release()
	}
}
