package settlement

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/paysettle/settle/internal/jsontext"
	"github.com/paysettle/settle/internal/money"
)

// Row is one data line of a settlement report, typed. Byte-slice fields point into the reader's buffers
// and are valid until the next call to Reader.Next; an empty cell is a nil or empty slice (null in the
// output) and an empty amount is an invalid NullAmount (null, not zero).
type Row struct {
	Line int64  // physical line the row starts on, 1-based, the header being line 1 (or later, after blank lines)
	Raw  []byte // the line's text without its line break

	CompanyAccount, MerchantAccount, PspReference, MerchantReference []byte
	PaymentMethod, PaymentMethodVariant, Type                        []byte
	ModificationReference, ModificationMerchantReference             []byte
	BatchNumber                                                      int64

	CreationTime   int64 // microseconds since the epoch, UTC
	CreationDate   Date  // the date as written in the report (the report's own time zone)
	CreationZone   []byte
	BookingTime    int64 // valid when HasBooking
	BookingDate    Date
	BookingZone    []byte
	HasBooking     bool
	GrossCurrency  []byte
	NetCurrency    []byte
	GrossDebit     money.NullAmount
	GrossCredit    money.NullAmount
	ExchangeRate   money.NullRate
	NetDebit       money.NullAmount
	NetCredit      money.NullAmount
	Commission     money.NullAmount
	Markup         money.NullAmount
	SchemeFees     money.NullAmount
	Interchange    money.NullAmount
	Extra          []byte   // JSON object of the non-empty extra columns by header name; nil when none
	Reasons        []string // why the row is rejected; empty for a valid row
	extraBuf       []byte
	reasonsScratch []string
	// The last zone looked up, from the one zone table the row's reader uses: a file's rows mostly
	// share one or two zones.
	lastZone    []byte
	lastZoneOff int
	lastZoneOK  bool
}

// Valid reports whether the row passed every row rule.
func (r *Row) Valid() bool { return len(r.Reasons) == 0 }

// IsPayout reports whether the row is the batch's payout to the merchant's bank account.
func (r *Row) IsPayout() bool { return string(r.Type) == "MerchantPayout" }

// NetAmount is net credit − net debit: positive when the merchant is credited. Null when both are empty.
func (r *Row) NetAmount() money.NullAmount {
	if !r.NetDebit.Valid && !r.NetCredit.Valid {
		return money.NullAmount{}
	}
	return money.NullAmount{V: r.NetCredit.V - r.NetDebit.V, Valid: true}
}

// TotalFees is commission + markup + scheme fees + interchange, each in the net currency; a negative fee is
// a fee credited back. Null when all four are empty.
func (r *Row) TotalFees() money.NullAmount {
	var t money.NullAmount
	for _, f := range [...]money.NullAmount{r.Commission, r.Markup, r.SchemeFees, r.Interchange} {
		if f.Valid {
			t.V += f.V
			t.Valid = true
		}
	}
	return t
}

// SettlementLocalDate is the date a row contributes to the settlement-date rule: its Booking Date when the
// report has one, else its Creation Date, as written in the report.
func (r *Row) SettlementLocalDate() Date {
	if r.HasBooking {
		return r.BookingDate
	}
	return r.CreationDate
}

// MaxAccountBytes bounds the Company Account and Merchant Account of a row. Adyen's account names are
// short codes; these two travel in every step's state (limited to 256 KiB), in the manifest and, escaped,
// in the object keys of the batch (limited to 1024 bytes), so a longer one is a row error.
const MaxAccountBytes = 128

// decode fills r from the n fields of one record (f holds them all when n is the header's width).
// Every failing rule adds a reason; none stops the others, so the rejects file lists everything wrong
// with a line at once. Values quoted in reasons are clipped (quoteValue). Amount checks stay within
// int64: each amount is below 10^18 thousandths, so the derived net amount and total fees (a row adds at
// most four fees) cannot overflow it, and are checked against decimal(18,3) like the amounts.
func (r *Row) decode(l *Layout, f [][]byte, n int, zones map[string]int, ascii bool) {
	r.Reasons = r.reasonsScratch[:0]
	if n != len(l.Header) || len(f) != n {
		r.reason("has " + strconv.Itoa(n) + " fields, the header has " + strconv.Itoa(len(l.Header)))
		r.reasonsScratch = r.Reasons
		return
	}
	get := func(c Column) []byte {
		if i := l.index[c]; i >= 0 {
			return f[i]
		}
		return nil
	}
	text := func(c Column, required bool) []byte {
		v := get(c)
		if len(v) == 0 {
			if required {
				r.reason(c.String() + ": empty")
			}
			return nil
		}
		if !ascii && !isASCII(v) && !utf8.Valid(v) {
			r.reason(c.String() + ": not valid UTF-8")
		}
		return v
	}
	r.CompanyAccount = text(ColCompanyAccount, true)
	r.MerchantAccount = text(ColMerchantAccount, true)
	if len(r.CompanyAccount) > MaxAccountBytes {
		r.reason("Company Account: " + quoteValue(r.CompanyAccount) + " is longer than " + strconv.Itoa(MaxAccountBytes) + " bytes")
	}
	if len(r.MerchantAccount) > MaxAccountBytes {
		r.reason("Merchant Account: " + quoteValue(r.MerchantAccount) + " is longer than " + strconv.Itoa(MaxAccountBytes) + " bytes")
	}
	r.PspReference = text(ColPspReference, false)
	r.MerchantReference = text(ColMerchantReference, false)
	r.PaymentMethod = text(ColPaymentMethod, false)
	r.PaymentMethodVariant = text(ColPaymentMethodVariant, false)
	r.Type = text(ColType, true)
	r.ModificationReference = text(ColModificationReference, false)
	r.ModificationMerchantReference = text(ColModificationMerchantReference, false)

	if b := get(ColBatchNumber); len(b) == 0 {
		r.reason("Batch Number: empty")
	} else if n, ok := parseBatch(b); !ok {
		r.reason("Batch Number: " + quoteValue(b) + " is not a positive whole number")
	} else {
		r.BatchNumber = n
	}

	// Times: the wall clock as written plus its zone abbreviation → UTC.
	r.CreationZone = get(ColTimeZone)
	creation, okC := parseLocal(get(ColCreationDate), false)
	if !okC {
		r.reason("Creation Date: " + quoteValue(get(ColCreationDate)) + " is not YYYY-MM-DD HH:MM:SS")
	}
	offC, okZ := r.zone(zones, r.CreationZone)
	if !okZ {
		r.reason(zoneError(ColTimeZone, r.CreationZone))
	}
	if okC && okZ {
		r.CreationTime = creation.unixMicros(offC)
		r.CreationDate = Date(creation.days)
	}
	r.HasBooking, r.BookingZone = false, nil
	if b := get(ColBookingDate); len(b) > 0 {
		booking, okB := parseLocal(b, true)
		if !okB {
			r.reason("Booking Date: " + quoteValue(b) + " is not YYYY-MM-DD[ HH:MM:SS]")
		}
		zone := get(ColBookingDateTimeZone)
		if len(zone) == 0 {
			zone = r.CreationZone // a report without a booking zone writes booking dates in its own zone
		} else {
			r.BookingZone = zone
		}
		offB, okBZ := r.zone(zones, zone)
		if !okBZ && len(r.BookingZone) > 0 {
			r.reason(zoneError(ColBookingDateTimeZone, zone))
		}
		if okB && okBZ {
			r.HasBooking = true
			r.BookingTime = booking.unixMicros(offB)
			r.BookingDate = Date(booking.days)
		}
	}

	// Money: each amount exact, no more minor digits than its currency has.
	r.GrossCurrency = text(ColGrossCurrency, false)
	r.NetCurrency = text(ColNetCurrency, false)
	gScale := r.currencyScale(ColGrossCurrency, r.GrossCurrency, get(ColGrossDebit), get(ColGrossCredit))
	nScale := r.currencyScale(ColNetCurrency, r.NetCurrency, get(ColNetDebit), get(ColNetCredit), get(ColCommission), get(ColMarkup), get(ColSchemeFees), get(ColInterchange))
	r.GrossDebit = r.amount(ColGrossDebit, get(ColGrossDebit), gScale, false)
	r.GrossCredit = r.amount(ColGrossCredit, get(ColGrossCredit), gScale, false)
	r.NetDebit = r.amount(ColNetDebit, get(ColNetDebit), nScale, false)
	r.NetCredit = r.amount(ColNetCredit, get(ColNetCredit), nScale, false)
	r.Commission = r.amount(ColCommission, get(ColCommission), nScale, true)
	r.Markup = r.amount(ColMarkup, get(ColMarkup), nScale, true)
	r.SchemeFees = r.amount(ColSchemeFees, get(ColSchemeFees), nScale, true)
	r.Interchange = r.amount(ColInterchange, get(ColInterchange), nScale, true)
	if net := r.NetAmount(); !net.V.InRange() {
		r.reason("net amount (Net Credit (NC) − Net Debit (NC)) " + net.V.String() + " does not fit decimal(18,3)")
	}
	if fees := r.TotalFees(); !fees.V.InRange() {
		r.reason("total fees (Commission + Markup + Scheme Fees + Interchange) " + fees.V.String() + " does not fit decimal(18,3)")
	}
	r.ExchangeRate = money.NullRate{}
	if b := get(ColExchangeRate); len(b) > 0 {
		rate, err := money.ParseRate(b)
		if err != nil {
			r.reason("Exchange Rate: " + quoteValue(b) + " " + err.Error())
		} else {
			r.ExchangeRate = money.NullRate{V: rate, Valid: true}
		}
	}

	// Everything else is kept by header name.
	r.Extra = nil
	if len(l.extra) > 0 {
		buf := r.extraBuf[:0]
		for _, e := range l.extra {
			v := f[e.pos]
			if len(v) == 0 {
				continue
			}
			if len(buf) == 0 {
				buf = append(buf, '{')
			} else {
				buf = append(buf, ',')
			}
			buf = append(buf, e.key...)
			buf = append(buf, ':')
			var ok bool
			if buf, ok = jsontext.AppendString(buf, v, true); !ok {
				r.reason(e.label + ": not valid UTF-8")
			}
		}
		if len(buf) > 0 {
			buf = append(buf, '}')
			r.Extra = buf
		}
		r.extraBuf = buf
	}
	r.reasonsScratch = r.Reasons
}

func (r *Row) reason(s string) { r.Reasons = append(r.Reasons, s) }

// zone looks up a zone abbreviation's offset, remembering the last one found.
func (r *Row) zone(zones map[string]int, name []byte) (int, bool) {
	if r.lastZoneOK && bytes.Equal(name, r.lastZone) {
		return r.lastZoneOff, true
	}
	off, ok := zones[string(name)]
	if ok {
		r.lastZone, r.lastZoneOff, r.lastZoneOK = append(r.lastZone[:0], name...), off, true
	}
	return off, ok
}

// currencyScale checks a currency code when any amount in its group is present, and returns how many
// fraction digits those amounts may carry (-1 when the code is unusable, so the amounts are not checked
// again with a misleading message).
func (r *Row) currencyScale(c Column, code []byte, amounts ...[]byte) int {
	present := false
	for _, a := range amounts {
		if len(a) > 0 {
			present = true
			break
		}
	}
	if len(code) == 0 {
		if present {
			r.reason(c.String() + ": empty, but the row has amounts in it")
			return -1
		}
		return money.Scale
	}
	n, err := money.MinorUnits(code)
	if err != nil {
		r.reason(c.String() + ": " + err.Error())
		return -1
	}
	return n
}

func (r *Row) amount(c Column, b []byte, scale int, signed bool) money.NullAmount {
	if len(b) == 0 {
		return money.NullAmount{}
	}
	if scale < 0 {
		return money.NullAmount{}
	}
	v, err := money.ParseAmount(b, scale, signed)
	if err != nil {
		msg := c.String() + ": " + quoteValue(b) + " " + err.Error()
		if se, ok := err.(*money.ScaleError); ok {
			msg = c.String() + ": " + quoteValue(b) + " has " + strconv.Itoa(se.Digits) + " fraction digits; its currency allows " + strconv.Itoa(se.Max)
		}
		r.reason(msg)
		return money.NullAmount{}
	}
	return money.NullAmount{V: v, Valid: true}
}

func parseBatch(b []byte) (int64, bool) {
	if len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}

// isASCII is the fast path of UTF-8 validation: most settlement text is ASCII.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if (uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16|uint64(b[3])<<24|
			uint64(b[4])<<32|uint64(b[5])<<40|uint64(b[6])<<48|uint64(b[7])<<56)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
