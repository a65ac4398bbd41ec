package adyen_test

import (
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/adyen"
)

// The download URL (reason) is not covered by the signature: only Adyen's path for the signed account
// and file name is a report of this notification, with no query, fragment, credentials or encoding.
func TestReportOfRequiresTheSignedAccountsPath(t *testing.T) {
	const file = "settlement_detail_report_batch_57.csv"
	item := adyen.Item{EventCode: "REPORT_AVAILABLE", Success: "true", MerchantAccountCode: "AcmeShopNL", PSPReference: file,
		Reason: "https://ca-live.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file}
	if _, skip, detail := adyen.ReportOf(item, true, adyen.DefaultReportPattern); skip != "" {
		t.Fatalf("the signed account's report: skip %q (%s)", skip, detail)
	}
	base := "https://ca-live.adyen.com/reports/download/MerchantAccount/"
	for _, c := range []struct{ name, url string }{
		{"another account's report", base + "OtherShopDE/" + file},
		{"another account, then the file", base + "OtherShopDE/AcmeShopNL/" + file},
		{"a longer path", "https://ca-live.adyen.com/x/reports/download/MerchantAccount/AcmeShopNL/" + file},
		{"no account", "https://ca-live.adyen.com/reports/download/" + file},
		{"the file at the root", "https://ca-live.adyen.com/" + file},
		{"a dot segment", base + "OtherShopDE/../AcmeShopNL/" + file},
		{"an encoded slash", base + "OtherShopDE%2F..%2FAcmeShopNL/" + file},
		{"an encoded letter", base + "%41cmeShopNL/" + file},
		{"an encoded file name", base + "AcmeShopNL/settlement_detail_report_batch_57%2Ecsv"},
		{"a double slash", base + "AcmeShopNL//" + file},
		{"a query", base + "AcmeShopNL/" + file + "?merchantAccount=OtherShopDE"},
		{"an empty query", base + "AcmeShopNL/" + file + "?"},
		{"a fragment", base + "AcmeShopNL/" + file + "#OtherShopDE"},
		{"credentials", "https://user:pw@ca-live.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file},
		{"an empty user", "https://@ca-live.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file},
		{"another case", base + "acmeshopnl/" + file},
		{"a trailing slash", base + "AcmeShopNL/" + file + "/"},
		{"a backslash", "https://ca-live.adyen.com/reports\\download/MerchantAccount/AcmeShopNL/" + file},
		{"no scheme", "//ca-live.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file},
	} {
		it := item
		it.Reason = c.url
		if _, skip, detail := adyen.ReportOf(it, true, adyen.DefaultReportPattern); skip != adyen.SkipMalformed {
			t.Errorf("%s (%s): skip %q, want %q", c.name, c.url, skip, adyen.SkipMalformed)
		} else if !strings.Contains(detail, "download URL") {
			t.Errorf("%s: detail %q does not name the download URL", c.name, detail)
		}
	}
}
