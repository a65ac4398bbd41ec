package settlement

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/paysettle/settle/internal/jsontext"
)

// Column identifies a column of the Adyen Settlement details report that the pipeline reads into a typed
// field. Columns not listed here are kept, by header name, in the record's extra JSON.
type Column int

// The typed columns of the Settlement details report.
const (
	ColCompanyAccount Column = iota
	ColMerchantAccount
	ColPspReference
	ColMerchantReference
	ColPaymentMethod
	ColCreationDate
	ColTimeZone
	ColType
	ColModificationReference
	ColGrossCurrency
	ColGrossDebit
	ColGrossCredit
	ColExchangeRate
	ColNetCurrency
	ColNetDebit
	ColNetCredit
	ColCommission
	ColMarkup
	ColSchemeFees
	ColInterchange
	ColPaymentMethodVariant
	ColModificationMerchantReference
	ColBatchNumber
	ColBookingDate
	ColBookingDateTimeZone
	numColumns
)

// columnNames are the header names as Adyen writes them.
var columnNames = [numColumns]string{
	"Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
	"Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
	"Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
	"Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant",
	"Modification Merchant Reference", "Batch Number", "Booking Date", "Booking Date TimeZone",
}

// String returns the column's header name.
func (c Column) String() string { return columnNames[c] }

// optional columns may be missing from the header; every other typed column is required.
func (c Column) optional() bool { return c == ColBookingDate || c == ColBookingDateTimeZone }

// DefaultHeader is the 30-column header of a default Settlement details report, in Adyen's order.
var DefaultHeader = []string{
	"Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
	"Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
	"Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
	"Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant",
	"Modification Merchant Reference", "Batch Number", "Reserved4", "Reserved5", "Reserved6", "Reserved7",
	"Reserved8", "Reserved9", "Reserved10",
}

// Layout maps a report's header to columns. Reports are read by header name, so reordered columns,
// added optional columns and Adyen's later layouts all read the same way.
type Layout struct {
	Provider string   // "adyen"
	Header   []string // as written, BOM and surrounding spaces removed
	index    [numColumns]int
	extra    []extraColumn // columns kept in the extra JSON, in header order
}

type extraColumn struct {
	pos   int
	key   []byte // the header name, JSON-encoded with its quotes
	label string // the header name for reasons
}

// MaxColumnNameBytes bounds a header name. Adyen's are under 40 bytes; an added column's name is the key
// of its values in every row's extra JSON, so a long name would be repeated in every row of the output.
const MaxColumnNameBytes = 128

// HeaderError says why a header is not one the pipeline can read. The file is then invalid as a whole.
type HeaderError struct {
	Missing   []string // required columns that are absent
	Duplicate []string // columns named twice
	Reason    string   // anything else
	Found     []string // the header as read
	// NetColumnsOmitted: the header has every required column but the three net ones (Net Currency, Net
	// Debit (NC), Net Credit (NC)), as the 28-column report exported from a Balance Platform account has.
	// It is a settlement details report, refused because each row's net amount, the payout the batch
	// balances against and the currency of the (NC) fees are only in those columns: deriving them from
	// the gross amounts would be a guess (see docs/decisions.md).
	NetColumnsOmitted bool
	required          int
}

// netColumns are the columns a report without net columns lacks, in Adyen's order.
var netColumns = []Column{ColNetCurrency, ColNetDebit, ColNetCredit}

func (e *HeaderError) Error() string {
	if e.NetColumnsOmitted {
		return "a settlement details report without its net columns (" + strings.Join(e.Missing, ", ") + "), " +
			"the layout exported from a Balance Platform account: refused, since each row's net amount, the payout " +
			"the batch balances against and the currency of the (NC) fees are in those columns and are not derived " +
			"from the gross amounts; generate the report again with these three standard columns and upload it in " +
			"place of this file"
	}
	var parts []string
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	switch {
	case len(e.Missing) > 0 && len(e.Missing) == e.required:
		parts = append(parts, fmt.Sprintf("none of its %d required columns are in the header, which has: %s", e.required, strings.Join(first(e.Found, 8), ", ")))
	case len(e.Missing) > 0:
		parts = append(parts, "missing required columns: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Duplicate) > 0 {
		parts = append(parts, "duplicate columns: "+strings.Join(first(e.Duplicate, 8), ", "))
	}
	return "not an Adyen settlement details report: " + strings.Join(parts, "; ")
}

// normalizeName folds a header name for matching: surrounding spaces removed, case ignored.
func normalizeName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

var columnByName = func() map[string]Column {
	m := make(map[string]Column, numColumns)
	for c := Column(0); c < numColumns; c++ {
		m[normalizeName(columnNames[c])] = c
	}
	return m
}()

// DetectLayout matches a header row against the Adyen Settlement details report. It is the adapter seam
// for other providers: a second provider adds its own detector, chosen by header signature. A report
// without its net columns is refused with a HeaderError that says so (NetColumnsOmitted).
func DetectLayout(fields [][]byte) (*Layout, error) {
	l := &Layout{Provider: ProviderAdyen}
	for i := range l.index {
		l.index[i] = -1
	}
	seen := map[string]bool{}
	var dup []string
	for pos, f := range fields {
		if bytes.IndexByte(f, 0) >= 0 || !utf8.Valid(f) {
			return nil, &HeaderError{Reason: "the first line is binary, not a CSV header"}
		}
		name := strings.TrimSpace(string(f))
		if len(name) > MaxColumnNameBytes {
			return nil, &HeaderError{Reason: fmt.Sprintf("column %d's name is %d bytes long, more than the %d a column name may have: %s",
				pos+1, len(name), MaxColumnNameBytes, quoteValue(name))}
		}
		l.Header = append(l.Header, name)
		norm := normalizeName(name)
		if seen[norm] {
			dup = append(dup, name)
			continue
		}
		seen[norm] = true
		if c, ok := columnByName[norm]; ok {
			l.index[c] = pos
			continue
		}
		key, _ := jsontext.AppendString(nil, name, true)
		l.extra = append(l.extra, extraColumn{pos: pos, key: key, label: name})
	}
	var missing []string
	for c := Column(0); c < numColumns; c++ {
		if l.index[c] < 0 && !c.optional() {
			missing = append(missing, columnNames[c])
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		sort.Strings(dup)
		required := 0
		for c := Column(0); c < numColumns; c++ {
			if !c.optional() {
				required++
			}
		}
		omitted := len(dup) == 0 && len(missing) == len(netColumns) // missing is in column order
		for i := 0; omitted && i < len(netColumns); i++ {
			omitted = missing[i] == columnNames[netColumns[i]]
		}
		return nil, &HeaderError{Missing: missing, Duplicate: dup, Found: l.Header, NetColumnsOmitted: omitted, required: required}
	}
	return l, nil
}
