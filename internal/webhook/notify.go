package webhook

import (
	"encoding/json"

	"github.com/paysettle/settle/internal/adyen"
)

// ReportNotification is the body Adyen sends for a report, signed with key: a standard notification
// with one REPORT_AVAILABLE item (amount 0 EUR, empty merchant reference), as Adyen's documentation
// shows it. `settle webhook sign` writes it, to try the receiver without Adyen.
func ReportNotification(key adyen.Key, r adyen.Report) []byte {
	it := adyen.Item{EventCode: adyen.EventReportAvailable, Success: "true", PSPReference: r.FileName,
		MerchantAccountCode: r.MerchantAccount, Amount: adyen.Amount{Currency: "EUR", Present: true},
		EventDate: r.EventDate, Reason: r.URL}
	type amount struct {
		Currency string `json:"currency"`
		Value    int64  `json:"value"`
	}
	type item struct {
		AdditionalData      map[string]string `json:"additionalData"`
		Amount              amount            `json:"amount"`
		EventCode           string            `json:"eventCode"`
		EventDate           string            `json:"eventDate,omitempty"`
		MerchantAccountCode string            `json:"merchantAccountCode"`
		MerchantReference   string            `json:"merchantReference"`
		PSPReference        string            `json:"pspReference"`
		Reason              string            `json:"reason"`
		Success             string            `json:"success"`
	}
	type wrapper struct {
		Item item `json:"NotificationRequestItem"`
	}
	live := "false"
	if r.Live {
		live = "true"
	}
	body := struct {
		Live  string    `json:"live"`
		Items []wrapper `json:"notificationItems"`
	}{live, []wrapper{{item{
		AdditionalData: map[string]string{"hmacSignature": adyen.Sign(key, adyen.SigningString(it))},
		Amount:         amount{Currency: "EUR"}, EventCode: it.EventCode, EventDate: it.EventDate,
		MerchantAccountCode: it.MerchantAccountCode, PSPReference: it.PSPReference, Reason: it.Reason, Success: it.Success,
	}}}}
	b, _ := json.MarshalIndent(body, "", "  ")
	return append(b, '\n')
}
