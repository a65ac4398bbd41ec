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
// matches pattern, with a usable file name and merchant account, and the download URL they name
// (CheckDownloadURL). Otherwise it says why the item is skipped, with a detail that names no secret.
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
	if why := CheckDownloadURL(it.Reason, it.MerchantAccountCode, it.PSPReference); why != "" {
		return Report{}, SkipMalformed, "reason: the download URL " + why
	}
	return Report{MerchantAccount: it.MerchantAccountCode, FileName: it.PSPReference, URL: it.Reason, EventDate: it.EventDate, Live: live}, "", ""
}

// DownloadPath is the path of a report's download URL on Adyen's Customer Area:
// /reports/download/MerchantAccount/<merchant account>/<file name>.
func DownloadPath(merchantAccount, fileName string) string {
	return "/reports/download/MerchantAccount/" + merchantAccount + "/" + fileName
}

// CheckDownloadURL returns why raw is not the download URL of the report fileName of merchantAccount
// ("" when it is): an https or http URL with a host, without credentials, query or fragment, whose
// path is DownloadPath(merchantAccount, fileName) exactly, as sent: no percent-encoding (the decoded
// path must be the raw one), no dot segments, no doubled or trailing slash. Adyen does not sign the URL
// (reason), only the merchant account and file name, so the URL must be the one they name: a genuine
// notification replayed with another URL must not download another account's report into this one's
// key. Whether the host is allowed is the fetch policy's question. The reasons name no value.
func CheckDownloadURL(raw, merchantAccount, fileName string) string {
	if strings.ContainsAny(raw, "?#") {
		return "has a query or a fragment"
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r == '\\' || r <= ' ' || r == 0x7f }) {
		return "contains a backslash, a space or a control character"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "is not an https or http URL"
	case u.Opaque != "" || u.Host == "":
		return "has no host"
	case u.User != nil:
		return "carries credentials"
	case strings.Contains(raw, "%") || u.RawPath != "" || u.EscapedPath() != u.Path:
		return "is percent-encoded"
	case u.Path != DownloadPath(merchantAccount, fileName):
		return "is not …/reports/download/MerchantAccount/<merchant account>/<file name> of the signed merchant account and file name"
	}
	return ""
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
