package adyen

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode"
)

// DefaultReportPattern selects the settlement details reports among the reports Adyen announces.
const DefaultReportPattern = "settlement_detail_report_batch_*.csv"

// Report is a report a REPORT_AVAILABLE notification announces.
type Report struct {
	MerchantAccount string // merchantAccountCode
	FileName        string // pspReference
	URL             string // reason: where to download it
	EventDate       string
	Live            bool
}

// Skip says why an item is acknowledged without a download. Its values are few and fixed (a metric
// dimension).
type Skip string

// Reasons to skip an item.
const (
	SkipEvent      Skip = "event"      // not REPORT_AVAILABLE
	SkipFailed     Skip = "failed"     // success is not "true"
	SkipPattern    Skip = "pattern"    // a report, but not one the pattern selects
	SkipMalformed  Skip = "malformed"  // a report whose file name, merchant account or URL cannot be used
	SkipDisallowed Skip = "disallowed" // a report whose URL is not on an allowed host
)

// CheckPattern reports whether pattern is a valid file-name pattern (path.Match syntax: * and ? never
// match a '/').
func CheckPattern(pattern string) error {
	if strings.TrimSpace(pattern) == "" {
		return errors.New("report file-name pattern is empty")
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("report file-name pattern %q: %w", pattern, err)
	}
	return nil
}

// ReportOf returns the report an item announces when it is a successful REPORT_AVAILABLE whose file name
// matches pattern, with a usable file name, merchant account and https or http URL ending in the file
// name. Otherwise it says why the item is skipped, with a detail that names no secret.
func ReportOf(it Item, live bool, pattern string) (Report, Skip, string) {
	if it.EventCode != EventReportAvailable {
		return Report{}, SkipEvent, "event " + it.EventCode
	}
	if it.Success != "true" {
		return Report{}, SkipFailed, "success is " + strconvQuote(it.Success)
	}
	if ok, _ := path.Match(pattern, it.PSPReference); !ok {
		return Report{}, SkipPattern, "file name does not match " + pattern
	}
	if why := CheckSegment(it.PSPReference); why != "" {
		return Report{}, SkipMalformed, "file name " + why
	}
	if why := CheckSegment(it.MerchantAccountCode); why != "" {
		return Report{}, SkipMalformed, "merchant account " + why
	}
	u, err := url.Parse(it.Reason)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Report{}, SkipMalformed, "reason is not a download URL"
	}
	if path.Base(u.Path) != it.PSPReference {
		return Report{}, SkipMalformed, "the download URL does not end in the file name"
	}
	return Report{MerchantAccount: it.MerchantAccountCode, FileName: it.PSPReference, URL: it.Reason, EventDate: it.EventDate, Live: live}, "", ""
}

// CheckSegment returns why s cannot be one segment of an object key ("" when it can): empty, "." or "..",
// a slash or backslash, a control character, or more than 255 bytes.
func CheckSegment(s string) string {
	switch {
	case s == "":
		return "is empty"
	case s == "." || s == "..":
		return "is a relative path"
	case len(s) > 255:
		return "is longer than 255 bytes"
	case strings.ContainsAny(s, `/\`):
		return "contains a slash"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "contains a control character"
	}
	return ""
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }
