package table

import (
	"bytes"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/settlement"
)

// Source is the provenance written with every row.
type Source struct {
	Provider string
	Key      string // the raw object's key
	ETag     string // unquoted
}

// Builder turns valid settlement rows into Arrow record batches of settlement_lines. The rows must be of
// one file, and so of one merchant account: validation guarantees it, Append checks it.
//
// Columns are built in plain Go slices (values, offsets, validity bits) that become the record batch's
// buffers without a copy: appending to a slice costs a fraction of an Arrow builder's checked append, and
// the batch is encoded and dropped soon after.
type Builder struct {
	mem      memory.Allocator // for the one-value columns
	src      Source
	ids      *settlement.RecordIDs
	merchant []byte
	strs     [numColumns]*strColumn
	ints     [numColumns]*intColumn // int64, timestamp and Decimal64 columns
	strDicts [numColumns]*strDict
	intDicts [numColumns]*intDict // batch number and fees
	rate     *rateDict
	rows     int
	text     int // upper bound of the bytes in any string column
}

// validity is a column's validity bitmap, bit i set when row i has a value. Most columns of most
// batches have no null: the bitmap is made at the first null, and until then a row costs a compare.
type validity struct {
	bits  []byte // nil while nulls is 0
	nulls int
}

func (v *validity) add(row int, ok bool) {
	if !ok || v.nulls > 0 {
		v.set(row, ok)
	}
}

// set records row's validity once the column has a null, or is about to.
func (v *validity) set(row int, ok bool) {
	if v.nulls == 0 { // the first null: rows before it have values
		v.bits = make([]byte, row>>3+1, max(64, 2*(row>>3+1)))
		bitutil.SetBitsTo(v.bits, 0, int64(row), true)
	}
	for len(v.bits) <= row>>3 {
		v.bits = append(v.bits, 0)
	}
	if ok {
		v.bits[row>>3] |= 1 << (row & 7)
	} else {
		v.nulls++
	}
}

// buffer is the bitmap as an Arrow buffer, nil when every row has a value.
func (v *validity) buffer() *memory.Buffer {
	if v.nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(v.bits)
}

type strColumn struct {
	validity
	offsets []int32
	data    []byte
}

type intColumn struct {
	validity
	values []int64
}

// NewBuilder returns a builder for the rows of one source file. ids makes their record ids. mem
// allocates the one-value columns.
func NewBuilder(mem memory.Allocator, src Source, ids *settlement.RecordIDs) *Builder {
	b := &Builder{mem: mem, src: src, ids: ids, rate: newRateDict()}
	for i, c := range Columns {
		switch c.Type.ID() {
		case arrow.DICTIONARY:
			switch c.Type.(*arrow.DictionaryType).ValueType.ID() {
			case arrow.DECIMAL128: // the exchange rate
			case arrow.STRING:
				if !arrow.TypeEqual(c.Type, constStr) {
					b.strDicts[i] = newStrDict()
				}
			case arrow.INT64, arrow.DECIMAL64:
				b.intDicts[i] = newIntDict()
			default:
				panic(fmt.Sprintf("table: no builder for column %s of type %s", c.Name, c.Type))
			}
		case arrow.STRING:
			b.strs[i] = &strColumn{offsets: []int32{0}}
		case arrow.INT64, arrow.TIMESTAMP, arrow.DECIMAL64:
			b.ints[i] = &intColumn{}
		default:
			panic(fmt.Sprintf("table: no builder for column %s of type %s", c.Name, c.Type))
		}
	}
	return b
}

// Len is the number of rows appended since the last NewRecordBatch.
func (b *Builder) Len() int { return b.rows }

// Reserve makes room for n more rows, so that appends do not grow the value slices one by one.
func (b *Builder) Reserve(n int) {
	for _, c := range b.ints {
		if c != nil {
			c.values = slices.Grow(c.values, n)
		}
	}
	for _, c := range b.strs {
		if c != nil {
			c.offsets = slices.Grow(c.offsets, n)
		}
	}
	for _, c := range b.strDicts {
		if c != nil {
			c.indices = slices.Grow(c.indices, n)
		}
	}
	for _, c := range b.intDicts {
		if c != nil {
			c.indices = slices.Grow(c.indices, n)
		}
	}
	b.rate.indices = slices.Grow(b.rate.indices, n)
}

// dictStr appends a value of a dictionary string column: an empty value is null in a nullable column,
// and the empty string in the others (as a plain column writes it).
func (b *Builder) dictStr(c int, v []byte) {
	b.strDicts[c].add(b.rows, v, len(v) > 0 || !Columns[c].Nullable)
}

func (b *Builder) dictAmount(c int, a money.NullAmount) {
	b.intDicts[c].add(b.rows, int64(a.V), a.Valid)
}

func (b *Builder) str(c int, v []byte) {
	col := b.strs[c]
	col.add(b.rows, len(v) > 0)
	col.data = append(col.data, v...)
	col.offsets = append(col.offsets, int32(len(col.data)))
}

func (b *Builder) int(c int, v int64, ok bool) {
	col := b.ints[c]
	col.add(b.rows, ok)
	if !ok {
		v = 0
	}
	col.values = append(col.values, v)
}

func (b *Builder) amount(c int, a money.NullAmount) { b.int(c, int64(a.V), a.Valid) }

// Append adds a valid row. It fails if the row's merchant account is not the file's, or if a string
// column would pass the 2 GiB an Arrow string array addresses.
func (b *Builder) Append(r *settlement.Row) error {
	if b.merchant == nil {
		b.merchant = bytes.Clone(r.MerchantAccount)
	} else if !bytes.Equal(b.merchant, r.MerchantAccount) {
		return fmt.Errorf("line %d: merchant account %q, but the file's is %q", r.Line, r.MerchantAccount, b.merchant)
	}
	// A string field is part of the row's text, except extra (JSON) and the record id: b.text bounds
	// every string column's bytes.
	if b.text += len(r.Raw) + len(r.Extra) + 64; b.text > math.MaxInt32 {
		return fmt.Errorf("line %d: over 2 GiB of text in one record batch", r.Line)
	}
	b.dictStr(cCompany, r.CompanyAccount)
	b.intDicts[cBatch].add(b.rows, r.BatchNumber, true)
	b.str(cPsp, r.PspReference)
	b.str(cMerchantRef, r.MerchantReference)
	b.dictStr(cMethod, r.PaymentMethod)
	b.dictStr(cVariant, r.PaymentMethodVariant)
	b.dictStr(cType, r.Type)
	b.str(cModRef, r.ModificationReference)
	b.str(cModMerchantRef, r.ModificationMerchantReference)
	b.int(cCreation, r.CreationTime, true)
	b.dictStr(cCreationZone, r.CreationZone)
	b.int(cBooking, r.BookingTime, r.HasBooking)
	b.dictStr(cBookingZone, r.BookingZone)
	b.dictStr(cGrossCurrency, r.GrossCurrency)
	b.amount(cGrossDebit, r.GrossDebit)
	b.amount(cGrossCredit, r.GrossCredit)
	b.rate.add(b.rows, r.ExchangeRate)
	b.dictStr(cNetCurrency, r.NetCurrency)
	b.amount(cNetDebit, r.NetDebit)
	b.amount(cNetCredit, r.NetCredit)
	b.dictAmount(cCommission, r.Commission)
	b.dictAmount(cMarkup, r.Markup)
	b.dictAmount(cSchemeFees, r.SchemeFees)
	b.dictAmount(cInterchange, r.Interchange)
	b.amount(cNetAmount, r.NetAmount())
	b.dictAmount(cTotalFees, r.TotalFees())
	b.str(cExtra, r.Extra)
	ids := b.strs[cRecordID] // never null
	ids.data = b.ids.AppendID(ids.data, r.Line)
	ids.offsets = append(ids.offsets, int32(len(ids.data)))
	b.int(cSourceLine, r.Line, true)
	b.rows++
	return nil
}

// NewRecordBatch returns the rows appended so far as a record batch (the caller releases it) and resets.
// The batch owns the slices it was built in; the builder starts new ones.
func (b *Builder) NewRecordBatch() arrow.RecordBatch {
	n := b.rows
	b.rows, b.text = 0, 0
	cols := make([]arrow.Array, len(Columns))
	for i, c := range Columns {
		var data arrow.ArrayData
		switch {
		case i == cProvider:
			cols[i] = b.constant(b.src.Provider, n)
			continue
		case i == cMerchant:
			cols[i] = b.constant(string(b.merchant), n)
			continue
		case i == cSourceKey:
			cols[i] = b.constant(b.src.Key, n)
			continue
		case i == cSourceETag:
			cols[i] = b.constant(b.src.ETag, n)
			continue
		case b.strs[i] != nil:
			col := b.strs[i]
			data = array.NewData(c.Type, n, []*memory.Buffer{col.buffer(),
				memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(trim(col.offsets))), memory.NewBufferBytes(col.data)}, nil, col.nulls, 0)
			*col = strColumn{offsets: make([]int32, 1, cap(col.offsets))}
		case b.ints[i] != nil:
			col := b.ints[i]
			data = array.NewData(c.Type, n, []*memory.Buffer{col.buffer(), memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(trim(col.values)))}, nil, col.nulls, 0)
			*col = intColumn{values: make([]int64, 0, cap(col.values))}
		case b.strDicts[i] != nil:
			col := b.strDicts[i]
			cols[i] = dictionary(c.Type, indices(n, &col.dictIndex), col.values())
			continue
		case b.intDicts[i] != nil:
			col := b.intDicts[i]
			cols[i] = dictionary(c.Type, indices(n, &col.dictIndex), col.values(c.Type.(*arrow.DictionaryType).ValueType))
			continue
		case i == cRate:
			cols[i] = dictionary(c.Type, indices(n, &b.rate.dictIndex), b.rate.values(c.Type.(*arrow.DictionaryType).ValueType))
			continue
		}
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	rec := array.NewRecordBatch(Schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// trim copies a column's values out of a slice reserved for many more rows (a batch handed over early,
// the last of a file), so that the batch does not keep the reservation alive.
func trim[T any](s []T) []T {
	if cap(s) > 2*len(s)+1024 {
		return slices.Clone(s)
	}
	return s
}

// indices returns the n indices of a dictionary column as an Arrow array.
func indices(n int, idx *dictIndex) arrow.Array {
	data := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{idx.buffer(),
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(trim(idx.indices)))}, nil, idx.nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// dictionary makes a dictionary column of its indices and its values (it releases both).
func dictionary(typ arrow.DataType, indices arrow.Array, values arrow.ArrayData) arrow.Array {
	dict := array.MakeFromData(values)
	values.Release()
	arr := array.NewDictionaryArray(typ, indices, dict)
	indices.Release()
	dict.Release()
	return arr
}

// constant is a one-value column of n rows: a one-entry dictionary and n zero indices.
func (b *Builder) constant(v string, n int) arrow.Array {
	db := array.NewStringBuilder(b.mem)
	db.Append(v)
	dict := db.NewArray()
	db.Release()
	buf := memory.NewResizableBuffer(b.mem)
	buf.Resize(n) // int8 indices, zeroed
	indices := array.NewData(arrow.PrimitiveTypes.Int8, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	idx := array.MakeFromData(indices)
	indices.Release()
	arr := array.NewDictionaryArray(constStr, idx, dict)
	idx.Release()
	dict.Release()
	return arr
}

// Release frees the builder's buffers (they are Go memory: it only drops them).
func (b *Builder) Release() {
	*b = Builder{}
}
