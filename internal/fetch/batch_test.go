package fetch_test

import (
	"testing"

	"github.com/paysettle/settle/internal/fetch"
)

func TestBatchRequest(t *testing.T) {
	r, err := fetch.BatchRequest("https://ca-live.adyen.com", "AcmeShopNL", 57)
	if err != nil || r.URL != "https://ca-live.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv" ||
		r.FileName != "settlement_detail_report_batch_57.csv" || !r.Live || r.Key() != "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv" {
		t.Errorf("BatchRequest = %+v, %v", r, err)
	}
	if r, err := fetch.BatchRequest("http://127.0.0.1:8000/", "AcmeShopNL", 3); err != nil || r.Live || r.URL != "http://127.0.0.1:8000/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_3.csv" {
		t.Errorf("local stand-in: %+v, %v", r, err)
	}
	for _, bad := range []struct {
		base, merchant string
		batch          int64
	}{{"ca-live.adyen.com", "A", 1}, {"https://h/x", "A", 1}, {"https://h?q=1", "A", 1}, {"https://h", "A/B", 1}, {"https://h", "A", 0}} {
		if _, err := fetch.BatchRequest(bad.base, bad.merchant, bad.batch); err == nil {
			t.Errorf("BatchRequest(%q, %q, %d) accepted", bad.base, bad.merchant, bad.batch)
		}
	}
}
