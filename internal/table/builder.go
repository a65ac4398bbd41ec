package table

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
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
type Builder struct {
	mem      memory.Allocator
	src      Source
	ids      *settlement.RecordIDs
	merchant []byte
	builders [numColumns]array.Builder // nil for the one-value columns
	strs     [numColumns]*array.BinaryBuilder
	ints     [numColumns]*array.Int64Builder
	tss      [numColumns]*array.TimestampBuilder
	decs     [numColumns]*array.Decimal64Builder
	rate     *array.Decimal128Builder
	rows     int
}

// NewBuilder returns a builder for the rows of one source file. ids makes their record ids.
func NewBuilder(mem memory.Allocator, src Source, ids *settlement.RecordIDs) *Builder {
	b := &Builder{mem: mem, src: src, ids: ids}
	for i, c := range Columns {
		if c.Type == constStr {
			continue
		}
		bl := array.NewBuilder(mem, c.Type)
		b.builders[i] = bl
		switch f := bl.(type) {
		case *array.StringBuilder:
			b.strs[i] = f.BinaryBuilder
		case *array.Int64Builder:
			b.ints[i] = f
		case *array.TimestampBuilder:
			b.tss[i] = f
		case *array.Decimal64Builder:
			b.decs[i] = f
		case *array.Decimal128Builder:
			b.rate = f
		default:
			panic(fmt.Sprintf("table: no builder for column %s of type %s", c.Name, c.Type))
		}
	}
	return b
}

// Len is the number of rows appended since the last NewRecordBatch.
func (b *Builder) Len() int { return b.rows }

// Reserve makes room for n more rows, so that appends do not grow buffers one by one.
func (b *Builder) Reserve(n int) {
	for _, bl := range b.builders {
		if bl != nil {
			bl.Reserve(n)
		}
	}
}

func (b *Builder) str(c int, v []byte) {
	if len(v) == 0 {
		b.strs[c].AppendNull()
		return
	}
	b.strs[c].Append(v)
}

func (b *Builder) amount(c int, a money.NullAmount) {
	if !a.Valid {
		b.decs[c].AppendNull()
		return
	}
	b.decs[c].Append(decimal.Decimal64(a.V))
}

// Append adds a valid row. It fails if the row's merchant account is not the file's.
func (b *Builder) Append(r *settlement.Row) error {
	if b.merchant == nil {
		b.merchant = bytes.Clone(r.MerchantAccount)
	} else if !bytes.Equal(b.merchant, r.MerchantAccount) {
		return fmt.Errorf("line %d: merchant account %q, but the file's is %q", r.Line, r.MerchantAccount, b.merchant)
	}
	b.strs[cCompany].Append(r.CompanyAccount)
	b.ints[cBatch].Append(r.BatchNumber)
	b.str(cPsp, r.PspReference)
	b.str(cMerchantRef, r.MerchantReference)
	b.str(cMethod, r.PaymentMethod)
	b.str(cVariant, r.PaymentMethodVariant)
	b.strs[cType].Append(r.Type)
	b.str(cModRef, r.ModificationReference)
	b.str(cModMerchantRef, r.ModificationMerchantReference)
	b.tss[cCreation].Append(arrow.Timestamp(r.CreationTime))
	b.strs[cCreationZone].Append(r.CreationZone)
	if r.HasBooking {
		b.tss[cBooking].Append(arrow.Timestamp(r.BookingTime))
	} else {
		b.tss[cBooking].AppendNull()
	}
	b.str(cBookingZone, r.BookingZone)
	b.str(cGrossCurrency, r.GrossCurrency)
	b.amount(cGrossDebit, r.GrossDebit)
	b.amount(cGrossCredit, r.GrossCredit)
	if r.ExchangeRate.Valid {
		b.rate.Append(decimal128.New(int64(r.ExchangeRate.V.Hi), r.ExchangeRate.V.Lo))
	} else {
		b.rate.AppendNull()
	}
	b.str(cNetCurrency, r.NetCurrency)
	b.amount(cNetDebit, r.NetDebit)
	b.amount(cNetCredit, r.NetCredit)
	b.amount(cCommission, r.Commission)
	b.amount(cMarkup, r.Markup)
	b.amount(cSchemeFees, r.SchemeFees)
	b.amount(cInterchange, r.Interchange)
	b.amount(cNetAmount, r.NetAmount())
	b.amount(cTotalFees, r.TotalFees())
	b.str(cExtra, r.Extra)
	b.strs[cRecordID].Append(b.ids.ID(r.Line))
	b.ints[cSourceLine].Append(r.Line)
	b.rows++
	return nil
}

// NewRecordBatch returns the rows appended so far as a record batch (the caller releases it) and resets.
func (b *Builder) NewRecordBatch() arrow.RecordBatch {
	n := b.rows
	b.rows = 0
	cols := make([]arrow.Array, len(Columns))
	for i := range Columns {
		switch i {
		case cProvider:
			cols[i] = b.constant(b.src.Provider, n)
		case cMerchant:
			cols[i] = b.constant(string(b.merchant), n)
		case cSourceKey:
			cols[i] = b.constant(b.src.Key, n)
		case cSourceETag:
			cols[i] = b.constant(b.src.ETag, n)
		default:
			cols[i] = b.builders[i].NewArray()
		}
	}
	rec := array.NewRecordBatch(Schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
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

// Release frees the builder's buffers.
func (b *Builder) Release() {
	for _, bl := range b.builders {
		if bl != nil {
			bl.Release()
		}
	}
}
