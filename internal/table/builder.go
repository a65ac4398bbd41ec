package table

import (
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

// Builder turns valid settlement rows into Arrow record batches of settlement_lines.
type Builder struct {
	rb   *array.RecordBuilder
	src  Source
	ids  *settlement.RecordIDs
	strs [numColumns]*array.BinaryBuilder
	ints [numColumns]*array.Int64Builder
	tss  [numColumns]*array.TimestampBuilder
	decs [numColumns]*array.Decimal64Builder
	rate *array.Decimal128Builder
	rows int
}

// NewBuilder returns a builder for the rows of one source file. ids makes their record ids.
func NewBuilder(mem memory.Allocator, src Source, ids *settlement.RecordIDs) *Builder {
	b := &Builder{rb: array.NewRecordBuilder(mem, Schema), src: src, ids: ids}
	for i := range Columns {
		switch f := b.rb.Field(i).(type) {
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
		}
	}
	return b
}

// Len is the number of rows appended since the last NewRecordBatch.
func (b *Builder) Len() int { return b.rows }

// Reserve makes room for n more rows, so that appends do not grow buffers one by one.
func (b *Builder) Reserve(n int) { b.rb.Reserve(n) }

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

// Append adds a valid row.
func (b *Builder) Append(r *settlement.Row) {
	b.strs[cProvider].AppendString(b.src.Provider)
	b.strs[cCompany].Append(r.CompanyAccount)
	b.strs[cMerchant].Append(r.MerchantAccount)
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
	b.strs[cSourceKey].AppendString(b.src.Key)
	b.strs[cSourceETag].AppendString(b.src.ETag)
	b.ints[cSourceLine].Append(r.Line)
	b.rows++
}

// NewRecordBatch returns the rows appended so far as a record batch (the caller releases it) and resets.
func (b *Builder) NewRecordBatch() arrow.RecordBatch {
	b.rows = 0
	return b.rb.NewRecordBatch()
}

// Release frees the builder's buffers.
func (b *Builder) Release() { b.rb.Release() }
