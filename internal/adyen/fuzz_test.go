package adyen_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/adyen"
)

// FuzzParseNotification: whatever the bytes, the parser never panics; it returns a ParseError or a
// notification whose every item has an event code and a success of "", "true" or "false", whose
// signing string has exactly the eight fields joined by ':' when no field holds one, and which a
// signature made for it verifies. Seeds: the testdata/hmac notifications; `go test` runs them.
func FuzzParseNotification(f *testing.F) {
	files, _ := filepath.Glob("testdata/hmac/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"notificationItems":[{"NotificationRequestItem":{"eventCode":"X","amount":{"value":"-0"}}}]}`))
	key := adyen.Key("fuzz key")
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := adyen.ParseNotification(body)
		if err != nil {
			var pe *adyen.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			return
		}
		if len(n.Items) == 0 || len(n.Items) > adyen.MaxItems {
			t.Fatalf("%d items", len(n.Items))
		}
		for _, it := range n.Items {
			if it.EventCode == "" || (it.Success != "" && it.Success != "true" && it.Success != "false") {
				t.Fatalf("item %+v", it)
			}
			s := adyen.SigningString(it)
			fields := []string{it.PSPReference, it.OriginalReference, it.MerchantAccountCode, it.MerchantReference, it.Amount.Currency, it.EventCode}
			if !strings.Contains(strings.Join(fields, ""), ":") && strings.Count(s, ":") != 7 {
				t.Fatalf("signing string %q has %d separators", s, strings.Count(s, ":"))
			}
			it.Signature = adyen.Sign(key, s)
			if !adyen.Verify(it, key) {
				t.Fatalf("a signature made for %q does not verify", s)
			}
			_, _, _ = adyen.ReportOf(it, n.Live, adyen.DefaultReportPattern)
		}
	})
}
