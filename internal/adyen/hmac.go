package adyen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Key is an HMAC key of a webhook, as bytes (Adyen shows it as hex in the Customer Area).
type Key []byte

// ParseKey decodes a hex HMAC key. Adyen's keys are 32 bytes (64 hex digits); any non-empty even-length
// hex string is accepted, as Adyen lets a merchant enter a key of their own.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("hmac key is empty")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("hmac key is not hexadecimal")
	}
	return Key(b), nil
}

// SigningString is what Adyen signs for a notification item of the standard webhook: pspReference,
// originalReference, merchantAccountCode, merchantReference, amount value, amount currency, eventCode and
// success, joined with ':', a missing value as the empty string. Nothing is escaped.
func SigningString(it Item) string {
	value := ""
	if it.Amount.Present {
		value = strconv.FormatInt(it.Amount.Value, 10)
	}
	return strings.Join([]string{
		it.PSPReference, it.OriginalReference, it.MerchantAccountCode, it.MerchantReference,
		value, it.Amount.Currency, it.EventCode, it.Success,
	}, ":")
}

// Sign returns the base64 HMAC-SHA256 of data under key, as Adyen puts it in additionalData.hmacSignature.
func Sign(key Key, data string) string {
	return base64.StdEncoding.EncodeToString(mac(key, data))
}

func mac(key Key, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// Verify reports whether the item's hmacSignature is the signature of its signing string under one of
// keys (the current key, and the previous one while Adyen still retries items signed with it). The
// comparison takes the same time whatever the signature's bytes.
func Verify(it Item, keys ...Key) bool {
	given, err := base64.StdEncoding.DecodeString(it.Signature)
	if err != nil || len(given) != sha256.Size {
		return false
	}
	data := SigningString(it)
	ok := false
	for _, k := range keys {
		if len(k) > 0 && hmac.Equal(mac(k, data), given) {
			ok = true
		}
	}
	return ok
}
