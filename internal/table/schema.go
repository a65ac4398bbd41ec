// Package table is the settlement_lines table: its Arrow schema (the output contract a user's Athena/Glue
// table depends on), a builder from parsed rows, and Stage, which turns a validated report into record
// batches on all cores. Package parquetfile writes those batches as Parquet and reads them back.
package table

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// Name is the table's name, and the first segment of its objects' keys.
const Name = "settlement_lines"

// Column is one column of settlement_lines.
type Column struct {
	Name     string
	Type     arrow.DataType // the Arrow type in record batches
	Nullable bool
	Glue     string // the column's type in the Glue/Athena table
	// Dict turns Parquet dictionary encoding on: for low-cardinality strings, exchange rates, and fees,
	// which repeat a few hundred values per currency (a third smaller on generated reports). Never for
	// unique references, timestamps or the amounts of payments. A Dict column is an Arrow dictionary in
	// record batches, and only those are: the builder makes the dictionaries.
	Dict bool
}

// Text reports whether the column's values are strings of each row, as opposed to numbers or one value
// for the whole file: a row group's text (what bounds its memory) is the bytes of these columns.
func (c Column) Text() bool {
	return c.Type.ID() == arrow.STRING || arrow.TypeEqual(c.Type, dictStr)
}

var (
	str = arrow.BinaryTypes.String
	// constStr is a string column holding one value for a whole file (provider, merchant account, source
	// key and ETag): a one-entry dictionary and zero indices, instead of a million copies of the same
	// bytes to stage, compress and hash again for the Parquet dictionary. In Parquet it is an ordinary
	// dictionary-encoded string column.
	constStr = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	// dictStr is a low-cardinality string column (company account, payment method and variant, type, zones,
	// currencies): the builder keeps each value once per batch and an index per row, remembering the last
	// value, and the Parquet writer merges a batch's few values into the row group's dictionary instead of
	// hashing every row's bytes. In Parquet it is an ordinary dictionary-encoded string column.
	dictStr = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	i64     = arrow.PrimitiveTypes.Int64
	// dictI64 and dictAmount are the batch number and the fees, built as dictionaries the same way.
	dictI64 = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: i64}
	ts      = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	// Amounts are Decimal64 in Arrow: every decimal(18,3) fits in 64 bits, and building and encoding move
	// half the bytes of Decimal128. In Parquet they are INT64 DECIMAL(18,3) either way.
	amount     = &arrow.Decimal64Type{Precision: 18, Scale: 3}
	dictAmount = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: amount}
	// rate is the exchange rate, a dictionary like dictStr.
	rate      = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: &arrow.Decimal128Type{Precision: 38, Scale: 18}}
	amountSQL = "decimal(18,3)"
)

// Columns are the columns of settlement_lines, in order. Changing a name, type or the order breaks every
// deployed Glue table: the template test compares template.yaml with this list.
var Columns = []Column{
	{"provider", constStr, false, "string", true},
	{"company_account", dictStr, false, "string", true},
	{"merchant_account", constStr, false, "string", true},
	{"batch_number", dictI64, false, "bigint", true},
	{"psp_reference", str, true, "string", false},
	{"merchant_reference", str, true, "string", false},
	{"payment_method", dictStr, true, "string", true},
	{"payment_method_variant", dictStr, true, "string", true},
	{"record_type", dictStr, false, "string", true},
	{"modification_reference", str, true, "string", false},
	{"modification_merchant_reference", str, true, "string", false},
	{"creation_time", ts, false, "timestamp", false},
	{"creation_time_zone", dictStr, false, "string", true},
	{"booking_time", ts, true, "timestamp", false},
	{"booking_time_zone", dictStr, true, "string", true},
	{"gross_currency", dictStr, true, "string", true},
	{"gross_debit", amount, true, amountSQL, false},
	{"gross_credit", amount, true, amountSQL, false},
	{"exchange_rate", rate, true, "decimal(38,18)", true},
	{"net_currency", dictStr, true, "string", true},
	{"net_debit", amount, true, amountSQL, false},
	{"net_credit", amount, true, amountSQL, false},
	{"commission", dictAmount, true, amountSQL, true},
	{"markup", dictAmount, true, amountSQL, true},
	{"scheme_fees", dictAmount, true, amountSQL, true},
	{"interchange", dictAmount, true, amountSQL, true},
	{"net_amount", amount, true, amountSQL, false},
	{"total_fees", dictAmount, true, amountSQL, true},
	{"extra", str, true, "string", false},
	{"record_id", str, false, "string", false},
	{"source_key", constStr, false, "string", true},
	{"source_etag", constStr, false, "string", true},
	{"source_line", i64, false, "bigint", false},
}

// PartitionKey is the Hive partition column: in the object key, not in the files.
const PartitionKey = "settlement_date"

// Column positions, in the order of Columns.
const (
	cProvider = iota
	cCompany
	cMerchant
	cBatch
	cPsp
	cMerchantRef
	cMethod
	cVariant
	cType
	cModRef
	cModMerchantRef
	cCreation
	cCreationZone
	cBooking
	cBookingZone
	cGrossCurrency
	cGrossDebit
	cGrossCredit
	cRate
	cNetCurrency
	cNetDebit
	cNetCredit
	cCommission
	cMarkup
	cSchemeFees
	cInterchange
	cNetAmount
	cTotalFees
	cExtra
	cRecordID
	cSourceKey
	cSourceETag
	cSourceLine
	numColumns
)

// Schema is the Arrow schema of settlement_lines.
var Schema = func() *arrow.Schema {
	if len(Columns) != numColumns {
		panic("table: Columns and positions disagree")
	}
	for _, c := range Columns {
		if c.Dict != (c.Type.ID() == arrow.DICTIONARY) {
			panic("table: column " + c.Name + " is dictionary-encoded in Parquet but not in Arrow, or the reverse")
		}
	}
	fields := make([]arrow.Field, len(Columns))
	for i, c := range Columns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	return arrow.NewSchema(fields, nil)
}()
