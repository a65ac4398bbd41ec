// Package adyen is Adyen's side of getting reports automatically: the standard notification webhook (its
// JSON, the HMAC signature of each notification item) and the REPORT_AVAILABLE notification that
// announces a report and where to download it. It imports nothing from AWS; the receiver
// (internal/webhook) and the downloader (internal/fetch) build on it.
//
// A standard notification is a JSON object {"live": "false", "notificationItems": [{"NotificationRequestItem":
// {...}}, ...]}. For REPORT_AVAILABLE, pspReference is the report's file name and reason its download URL
// (https://ca-test.adyen.com/reports/download/MerchantAccount/<account>/<file>, ca-live for live).
package adyen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EventReportAvailable is the event code of the notification Adyen sends when a report is ready.
const EventReportAvailable = "REPORT_AVAILABLE"

// MaxItems bounds the items of one notification: Adyen batches a few; a body with thousands is not
// Adyen's and would only cost HMAC computations.
const MaxItems = 1000

// Notification is one delivery of the standard webhook.
type Notification struct {
	// Live is true for the live environment, false for test.
	Live bool
	// Items are the notification items, in the order they came.
	Items []Item
}

// Amount is a notification item's amount in minor units. Present is false when the item has none, which
// signs as two empty fields.
type Amount struct {
	Value    int64
	Currency string
	Present  bool
}

// Item is one NotificationRequestItem. Strings are as Adyen sent them; fields the pipeline does not use
// are not kept.
type Item struct {
	EventCode           string
	Success             string // "true" or "false"
	PSPReference        string
	OriginalReference   string
	MerchantAccountCode string
	MerchantReference   string
	Amount              Amount
	EventDate           string
	Reason              string
	// Signature is additionalData.hmacSignature (base64), "" when absent. Never log it.
	Signature string
}

// ParseError says why a body is not a standard notification. Its message names the field, never a value,
// so that it can be logged without leaking a payload.
type ParseError struct {
	Item   int // 1-based item number, 0 for the envelope
	Reason string
}

func (e *ParseError) Error() string {
	if e.Item == 0 {
		return "notification: " + e.Reason
	}
	return fmt.Sprintf("notification item %d: %s", e.Item, e.Reason)
}

// wire is the JSON of a notification, with the types Adyen is known to vary (strings or JSON literals
// for booleans and numbers) left raw.
type wire struct {
	Live              json.RawMessage `json:"live"`
	NotificationItems []struct {
		Item *wireItem `json:"NotificationRequestItem"`
	} `json:"notificationItems"`
}

type wireItem struct {
	EventCode           *string         `json:"eventCode"`
	Success             json.RawMessage `json:"success"`
	PSPReference        *string         `json:"pspReference"`
	OriginalReference   *string         `json:"originalReference"`
	MerchantAccountCode *string         `json:"merchantAccountCode"`
	MerchantReference   *string         `json:"merchantReference"`
	Amount              *struct {
		Value    json.RawMessage `json:"value"`
		Currency *string         `json:"currency"`
	} `json:"amount"`
	EventDate      *string                    `json:"eventDate"`
	Reason         *string                    `json:"reason"`
	AdditionalData map[string]json.RawMessage `json:"additionalData"`
}

// ParseNotification reads a standard notification. Unknown fields are allowed (Adyen adds them); what
// the signature covers must have the documented types: strings, an integer amount value, "true" or
// "false" for success (a JSON boolean is accepted too).
func ParseNotification(body []byte) (*Notification, error) {
	if !utf8.Valid(body) {
		return nil, &ParseError{Reason: "body is not UTF-8"}
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return nil, &ParseError{Reason: "not a JSON object of the standard webhook: " + jsonReason(err)}
	}
	if dec.More() {
		return nil, &ParseError{Reason: "trailing data after the JSON object"}
	}
	n := &Notification{}
	live, ok := boolString(w.Live)
	if !ok {
		return nil, &ParseError{Reason: `live is not "true" or "false"`}
	}
	n.Live = live == "true"
	if len(w.NotificationItems) == 0 {
		return nil, &ParseError{Reason: "no notificationItems"}
	}
	if len(w.NotificationItems) > MaxItems {
		return nil, &ParseError{Reason: fmt.Sprintf("%d notificationItems, more than %d", len(w.NotificationItems), MaxItems)}
	}
	for i, ni := range w.NotificationItems {
		it, err := parseItem(ni.Item)
		if err != "" {
			return nil, &ParseError{Item: i + 1, Reason: err}
		}
		n.Items = append(n.Items, it)
	}
	return n, nil
}

func parseItem(w *wireItem) (Item, string) {
	if w == nil {
		return Item{}, "no NotificationRequestItem"
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	it := Item{
		EventCode: str(w.EventCode), PSPReference: str(w.PSPReference), OriginalReference: str(w.OriginalReference),
		MerchantAccountCode: str(w.MerchantAccountCode), MerchantReference: str(w.MerchantReference),
		EventDate: str(w.EventDate), Reason: str(w.Reason),
	}
	if it.EventCode == "" {
		return Item{}, "no eventCode"
	}
	success, ok := boolString(w.Success)
	if !ok {
		return Item{}, `success is not "true" or "false"`
	}
	it.Success = success
	if w.Amount != nil {
		it.Amount.Present = true
		it.Amount.Currency = str(w.Amount.Currency)
		if len(w.Amount.Value) > 0 && string(w.Amount.Value) != "null" {
			v, ok := integer(w.Amount.Value)
			if !ok {
				return Item{}, "amount.value is not a whole number of minor units"
			}
			it.Amount.Value = v
		}
	}
	if raw, ok := w.AdditionalData["hmacSignature"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return Item{}, "additionalData.hmacSignature is not a string"
		}
		it.Signature = s
	}
	return it, ""
}

// boolString reads "true"/"false" given as a JSON string or literal; absent reads as "".
func boolString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return strconv.FormatBool(b), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && (s == "true" || s == "false") {
		return s, true
	}
	return "", false
}

// integer reads a whole number given as a JSON number or a string of digits (Adyen's own examples use both).
func integer(raw json.RawMessage) (int64, bool) {
	text := string(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		text = s
	}
	v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	return v, err == nil
}

// jsonReason is a decoding error without the offending value.
func jsonReason(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("%s is a JSON %s", e.Field, e.Value)
	}
	if err.Error() == "EOF" || err.Error() == "unexpected EOF" {
		return "the body ends early"
	}
	return "invalid JSON"
}
