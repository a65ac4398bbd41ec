package fetch

import (
	"fmt"
	"net/url"
	"strconv"
)

// BatchFileName is the file name of a merchant account's settlement details report for a batch, as
// Adyen names it.
func BatchFileName(batch int64) string {
	return "settlement_detail_report_batch_" + strconv.FormatInt(batch, 10) + ".csv"
}

// BatchRequest is the request for a batch's settlement details report of a merchant account: its
// download URL is known from the account and the batch number alone,
// <base>/reports/download/MerchantAccount/<account>/settlement_detail_report_batch_<N>.csv, where base
// is the report host's address ("https://ca-live.adyen.com", or a local stand-in's "http://127.0.0.1:8000").
func BatchRequest(base, merchant string, batch int64) (Request, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return Request{}, fmt.Errorf("%q is not a report host's address (https://host)", base)
	}
	if batch < 1 {
		return Request{}, fmt.Errorf("batch %d: batch numbers start at 1", batch)
	}
	file := BatchFileName(batch)
	u.Path = "/reports/download/MerchantAccount/" + merchant + "/" + file
	r := Request{MerchantAccount: merchant, FileName: file, URL: u.String(), Live: u.Hostname() == LiveHost}
	if err := r.Check(); err != nil {
		return Request{}, err
	}
	return r, nil
}
