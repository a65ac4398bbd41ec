package settlement

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ZoneOffsets maps the time-zone abbreviations Adyen writes in the TimeZone and Booking Date TimeZone
// columns to their UTC offset in seconds. An abbreviation already says whether daylight saving applies
// (CET vs CEST), so the conversion is a fixed offset, not a zone-database lookup.
//
// Abbreviations that mean different offsets in different places are deliberately absent and are row
// errors unless configured: CST (US Central −06:00, China +08:00), IST (India +05:30, Ireland +01:00,
// Israel +02:00), AST (Atlantic −04:00, Arabia +03:00) and GST (Gulf +04:00, South Georgia −02:00).
// Options.Zones adds or overrides entries, e.g. "CST=-06:00" for a US account.
var ZoneOffsets = map[string]int{
	"UTC": 0, "GMT": 0, "WET": 0, "WEST": 3600, "BST": 3600,
	"CET": 3600, "CEST": 7200, "MET": 3600, "MEST": 7200,
	"EET": 7200, "EEST": 10800, "MSK": 10800, "TRT": 10800,
	"SAST": 7200, "WAT": 3600, "CAT": 7200, "EAT": 10800,
	"PKT": 18000, "NPT": 20700, "ICT": 25200, "WIB": 25200,
	"HKT": 28800, "SGT": 28800, "MYT": 28800, "PHT": 28800, "AWST": 28800,
	"JST": 32400, "KST": 32400, "ACST": 34200, "ACDT": 37800, "AEST": 36000, "AEDT": 39600,
	"NZST": 43200, "NZDT": 46800,
	"HST": -36000, "AKST": -32400, "AKDT": -28800, "PST": -28800, "PDT": -25200,
	"MST": -25200, "MDT": -21600, "CDT": -18000, "EST": -18000, "EDT": -14400,
	"ADT": -10800, "NST": -12600, "NDT": -9000,
	"BRT": -10800, "ART": -10800, "CLT": -14400, "CLST": -10800, "COT": -18000, "PET": -18000,
}

// ambiguousZones explain why a known abbreviation is not in the table.
var ambiguousZones = map[string]string{
	"CST": "US Central -06:00 or China +08:00",
	"IST": "India +05:30, Ireland +01:00 or Israel +02:00",
	"AST": "Atlantic -04:00 or Arabia +03:00",
	"GST": "Gulf +04:00 or South Georgia -02:00",
}

// ParseZones parses a zone configuration like "CST=-06:00,IST=+05:30" into offsets in seconds.
func ParseZones(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, off, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		sec, err := parseOffset(strings.TrimSpace(off))
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("time zone %q: want ABBR=+HH:MM, like CST=-06:00", part)
		}
		out[name] = sec
	}
	return out, nil
}

func parseOffset(s string) (int, error) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, fmt.Errorf("bad offset %q", s)
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[4:6])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return 0, fmt.Errorf("bad offset %q", s)
	}
	sec := h*3600 + m*60
	if s[0] == '-' {
		sec = -sec
	}
	return sec, nil
}

// FormatOffset writes an offset in seconds as ±HH:MM.
func FormatOffset(sec int) string {
	sign := '+'
	if sec < 0 {
		sign, sec = '-', -sec
	}
	return fmt.Sprintf("%c%02d:%02d", sign, sec/3600, sec%3600/60)
}

// ZoneTable returns the abbreviations in effect, sorted, for documentation and `settle zones`.
func ZoneTable(overrides map[string]int) []string {
	m := map[string]int{}
	for k, v := range ZoneOffsets {
		m[k] = v
	}
	for k, v := range overrides {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+FormatOffset(v))
	}
	sort.Strings(out)
	return out
}

// zoneError is the row error for an abbreviation not in the table.
func zoneError(col Column, abbr []byte) string {
	if why, ok := ambiguousZones[string(abbr)]; ok {
		return fmt.Sprintf("%s: time zone %q is ambiguous (%s); configure it, e.g. SETTLE_TIMEZONES=%s=%s", col, abbr, why, abbr, why[strings.IndexAny(why, "+-"):][:6])
	}
	if len(abbr) == 0 {
		return fmt.Sprintf("%s: empty time zone", col)
	}
	return fmt.Sprintf("%s: unknown time zone abbreviation %s; add it to SETTLE_TIMEZONES if it is right", col, quoteValue(abbr))
}

// localTime is a wall-clock time as written in the report.
type localTime struct {
	days int32 // days since 1970-01-01 of the written date
	secs int32 // seconds since midnight
}

// parseLocal parses "YYYY-MM-DD HH:MM:SS", or "YYYY-MM-DD" when dateOnly is allowed, without allocating.
func parseLocal(b []byte, dateOnly bool) (localTime, bool) {
	if !(len(b) == 19 || (dateOnly && len(b) == 10)) || b[4] != '-' || b[7] != '-' {
		return localTime{}, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || y < 1900 {
		return localTime{}, false
	}
	lt := localTime{days: daysFromCivil(y, mo, d)}
	if len(b) == 10 {
		return lt, true
	}
	if b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return localTime{}, false
	}
	h, ok1 := digits(b[11:13])
	mi, ok2 := digits(b[14:16])
	s, ok3 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
		return localTime{}, false
	}
	lt.secs = int32(h*3600 + mi*60 + s)
	return lt, true
}

// unixMicros converts a wall-clock time at a fixed UTC offset to microseconds since the epoch, UTC.
func (t localTime) unixMicros(offset int) int64 {
	return (int64(t.days)*86400 + int64(t.secs) - int64(offset)) * 1_000_000
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// Date is a calendar date as days since 1970-01-01.
type Date int32

// String formats the date as YYYY-MM-DD.
func (d Date) String() string {
	z := int(d) + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, day)
}
