package adyen_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/adyen"
)

func TestParseNotification(t *testing.T) {
	n, err := adyen.ParseNotification([]byte(`{"live":"true","notificationItems":[
		{"NotificationRequestItem":{"eventCode":"REPORT_AVAILABLE","success":"true","pspReference":"r.csv","merchantAccountCode":"M",
		 "amount":{"value":0,"currency":"EUR"},"reason":"https://ca-live.adyen.com/reports/download/MerchantAccount/M/r.csv",
		 "eventDate":"2024-05-03T06:00:00+02:00","additionalData":{"hmacSignature":"c2ln","other":{"nested":true}},"operations":["CAPTURE"]}},
		{"NotificationRequestItem":{"eventCode":"AUTHORISATION","success":false,"pspReference":"88","amount":{"value":"1130","currency":"EUR"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !n.Live || len(n.Items) != 2 {
		t.Fatalf("live %v, %d items", n.Live, len(n.Items))
	}
	a, b := n.Items[0], n.Items[1]
	if a.EventCode != "REPORT_AVAILABLE" || a.Success != "true" || a.PSPReference != "r.csv" || a.MerchantAccountCode != "M" ||
		a.Signature != "c2ln" || a.EventDate != "2024-05-03T06:00:00+02:00" || !strings.HasPrefix(a.Reason, "https://ca-live") ||
		a.Amount != (adyen.Amount{Value: 0, Currency: "EUR", Present: true}) {
		t.Errorf("item 1 = %+v", a)
	}
	if b.Success != "false" || b.Amount.Value != 1130 || b.Signature != "" {
		t.Errorf("item 2 = %+v", b)
	}
}

func TestParseNotificationRefuses(t *testing.T) {
	item := func(fields string) string {
		return `{"notificationItems":[{"NotificationRequestItem":{"eventCode":"X",` + fields + `}}]}`
	}
	for _, c := range []struct {
		name, body, want string
	}{
		{"empty", ``, "ends early"},
		{"not json", `[accepted]`, "syntax error"},
		{"array", `[]`, "not a JSON object"},
		{"trailing", `{"notificationItems":[{"NotificationRequestItem":{"eventCode":"X"}}]} {}`, "trailing data"},
		{"no items", `{"live":"false"}`, "no notificationItems"},
		{"empty items", `{"notificationItems":[]}`, "no notificationItems"},
		{"item without body", `{"notificationItems":[{}]}`, "item 1: no NotificationRequestItem"},
		{"no event code", `{"notificationItems":[{"NotificationRequestItem":{"success":"true"}}]}`, "no eventCode"},
		{"bad live", `{"live":"maybe","notificationItems":[{"NotificationRequestItem":{"eventCode":"X"}}]}`, "live is not"},
		{"bad success", item(`"success":"yes"`), `success is not`},
		{"fractional amount", item(`"amount":{"value":10.5,"currency":"EUR"}`), "amount.value"},
		{"text amount", item(`"amount":{"value":"ten","currency":"EUR"}`), "amount.value"},
		{"huge amount", item(`"amount":{"value":99999999999999999999,"currency":"EUR"}`), "amount.value"},
		{"signature not a string", item(`"additionalData":{"hmacSignature":5}`), "hmacSignature is not a string"},
		{"wrong type", item(`"pspReference":5`), "is a JSON number"},
		{"not utf-8", "{\"notificationItems\":[{\"NotificationRequestItem\":{\"eventCode\":\"\xff\"}}]}", "not UTF-8"},
	} {
		_, err := adyen.ParseNotification([]byte(c.body))
		var pe *adyen.ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ParseNotification = %v, want a ParseError with %q", c.name, err, c.want)
		}
	}
	// The messages name fields, never the values that a log would then leak.
	_, err := adyen.ParseNotification([]byte(`{"notificationItems":[{"NotificationRequestItem":{"eventCode":"X","success":"s3cr3t-value"}}]}`))
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v quotes the payload", err)
	}
}

func TestReportOf(t *testing.T) {
	report := adyen.Item{EventCode: "REPORT_AVAILABLE", Success: "true", MerchantAccountCode: "AcmeShopNL",
		PSPReference: "settlement_detail_report_batch_57.csv", EventDate: "2024-05-03T06:00:00+02:00",
		Reason: "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"}
	r, skip, _ := adyen.ReportOf(report, true, adyen.DefaultReportPattern)
	if skip != "" || r != (adyen.Report{MerchantAccount: "AcmeShopNL", FileName: "settlement_detail_report_batch_57.csv", URL: report.Reason, EventDate: report.EventDate, Live: true}) {
		t.Errorf("ReportOf = %+v, %q", r, skip)
	}
	with := func(f func(*adyen.Item)) adyen.Item { it := report; f(&it); return it }
	for _, c := range []struct {
		name string
		it   adyen.Item
		want adyen.Skip
	}{
		{"another event", with(func(i *adyen.Item) { i.EventCode = "AUTHORISATION" }), adyen.SkipEvent},
		{"unsuccessful", with(func(i *adyen.Item) { i.Success = "false" }), adyen.SkipFailed},
		{"another report", with(func(i *adyen.Item) { i.PSPReference = "payments_accounting_report_2024_05_03.csv" }), adyen.SkipPattern},
		{"a path", with(func(i *adyen.Item) { i.PSPReference = "../settlement_detail_report_batch_57.csv" }), adyen.SkipPattern},
		{"merchant with a slash", with(func(i *adyen.Item) { i.MerchantAccountCode = "../raw" }), adyen.SkipMalformed},
		{"no merchant", with(func(i *adyen.Item) { i.MerchantAccountCode = "" }), adyen.SkipMalformed},
		{"no url", with(func(i *adyen.Item) { i.Reason = "" }), adyen.SkipMalformed},
		{"ftp url", with(func(i *adyen.Item) { i.Reason = "ftp://ca-test.adyen.com/settlement_detail_report_batch_57.csv" }), adyen.SkipMalformed},
		{"url of another file", with(func(i *adyen.Item) {
			i.Reason = "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/other.csv"
		}), adyen.SkipMalformed},
	} {
		if _, skip, detail := adyen.ReportOf(c.it, false, adyen.DefaultReportPattern); skip != c.want {
			t.Errorf("%s: skip %q (%s), want %q", c.name, skip, detail, c.want)
		}
	}
	if _, skip, _ := adyen.ReportOf(with(func(i *adyen.Item) {
		i.PSPReference = "r.csv"
		i.Reason = "https://h/reports/download/MerchantAccount/AcmeShopNL/r.csv"
	}), false, "*.csv"); skip != "" {
		t.Errorf("a configured pattern *.csv skips r.csv: %q", skip)
	}
	for _, p := range []string{"", "[", "  "} {
		if adyen.CheckPattern(p) == nil {
			t.Errorf("CheckPattern(%q) accepted", p)
		}
	}
	if err := adyen.CheckPattern(adyen.DefaultReportPattern); err != nil {
		t.Error(err)
	}
}
