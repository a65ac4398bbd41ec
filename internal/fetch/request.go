package fetch

import (
	"errors"
	"fmt"
	"net/url"
	"path"
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
}

// FromReport is the request for a report a notification announced.
func FromReport(r adyen.Report) Request {
	return Request{MerchantAccount: r.MerchantAccount, FileName: r.FileName, URL: r.URL, EventDate: r.EventDate, Live: r.Live}
}

// Key is the raw-bucket key the report is stored under.
func (r Request) Key() string { return RawPrefix + r.MerchantAccount + "/" + r.FileName }

// Check returns why the request cannot be fetched as it is, or nil: a merchant account and a file name
// usable as key segments, and a URL whose last path segment is the file name.
func (r Request) Check() error {
	if why := adyen.CheckSegment(r.MerchantAccount); why != "" {
		return errors.New("merchant account " + why)
	}
	if why := adyen.CheckSegment(r.FileName); why != "" {
		return errors.New("file name " + why)
	}
	u, err := url.Parse(r.URL)
	if err != nil || path.Base(u.Path) != r.FileName {
		return errors.New("the URL does not end in the file name")
	}
	return nil
}

// RequestForURL makes a request from a download URL alone, as `settle fetch URL` gets it: the file name is
// the URL's last path segment, the merchant account the segment after MerchantAccount in Adyen's
// /reports/download/MerchantAccount/<account>/<file> form, unless merchant is given.
func RequestForURL(raw, merchant string) (Request, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Request{}, fmt.Errorf("%q is not a download URL", raw)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if merchant == "" {
		for i := 0; i+2 < len(segs); i++ {
			if segs[i] == "MerchantAccount" {
				merchant = segs[i+1]
			}
		}
	}
	if merchant == "" {
		return Request{}, fmt.Errorf("%s names no merchant account (…/MerchantAccount/<account>/<file>); give it with --merchant", u.Redacted())
	}
	r := Request{MerchantAccount: merchant, FileName: segs[len(segs)-1], URL: raw}
	if err := r.Check(); err != nil {
		return Request{}, fmt.Errorf("%s: %v", u.Redacted(), err)
	}
	return r, nil
}
