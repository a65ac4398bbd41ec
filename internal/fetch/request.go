package fetch

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/paysettle/settle/internal/adyen"
)

// RawPrefix is where fetched reports land in the raw bucket: incoming/<merchant account>/<file name>.
const RawPrefix = "incoming/"

// Request is one report to download: the message the webhook receiver queues and the fetcher consumes.
// The same notification gives the same bytes, so a redelivered notification is a duplicate message.
type Request struct {
	MerchantAccount string `json:"merchantAccount"`
	FileName        string `json:"fileName"`
	URL             string `json:"url"`
	EventDate       string `json:"eventDate,omitempty"`
	Live            bool   `json:"live"`
	// Speculative marks a request for a batch not known to exist: the batch check's for a batch a gap
	// lacks, a backfill's. A 404 then means the report is not generated (yet), which the check or the
	// backfill's summary reports, not a failure for the dead-letter queue.
	Speculative bool `json:"speculative,omitempty"`
}

// FromReport is the request for a report a notification announced.
func FromReport(r adyen.Report) Request {
	return Request{MerchantAccount: r.MerchantAccount, FileName: r.FileName, URL: r.URL, EventDate: r.EventDate, Live: r.Live}
}

// Key is the raw-bucket key the report is stored under.
func (r Request) Key() string { return RawPrefix + r.MerchantAccount + "/" + r.FileName }

// Check returns why the request cannot be fetched as it is, or nil: a merchant account and a file name
// usable as key segments, and the download URL of exactly that report (adyen.CheckDownloadURL): the URL
// is not signed, so it must not lead to another account's report or another file.
func (r Request) Check() error {
	if why := adyen.CheckSegment(r.MerchantAccount); why != "" {
		return errors.New("merchant account " + why)
	}
	if why := adyen.CheckSegment(r.FileName); why != "" {
		return errors.New("file name " + why)
	}
	if why := adyen.CheckDownloadURL(r.URL, r.MerchantAccount, r.FileName); why != "" {
		return errors.New("the download URL " + why)
	}
	return nil
}

// RequestForURL makes a request from a download URL alone, as `settle fetch URL` gets it: Adyen's
// /reports/download/MerchantAccount/<account>/<file> names the merchant account and the file. merchant,
// when given, must be the URL's account.
func RequestForURL(raw, merchant string) (Request, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Request{}, fmt.Errorf("%q is not a download URL", raw)
	}
	segs := strings.Split(u.Path, "/")
	if len(segs) != 6 || segs[0] != "" || segs[1] != "reports" || segs[2] != "download" || segs[3] != "MerchantAccount" {
		return Request{}, fmt.Errorf("%s is not a report's download URL …/reports/download/MerchantAccount/<account>/<file>", u.Redacted())
	}
	if merchant != "" && merchant != segs[4] {
		return Request{}, fmt.Errorf("%s is a report of merchant account %q, not %q", u.Redacted(), segs[4], merchant)
	}
	r := Request{MerchantAccount: segs[4], FileName: segs[5], URL: raw}
	if err := r.Check(); err != nil {
		return Request{}, fmt.Errorf("%s: %v", u.Redacted(), err)
	}
	return r, nil
}
