package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paysettle/settle/internal/adyen"
)

// Secret is the webhook's secret (in Secrets Manager, a JSON object): the basic-auth credentials Adyen
// sends with every notification, and the HMAC key Adyen signs the items with. PreviousHMACKey keeps
// notifications signed with the old key acceptable while Adyen still retries them after a key change.
type Secret struct {
	Username        string `json:"username"`
	Password        string `json:"password"`
	HMACKey         string `json:"hmacKey"`
	PreviousHMACKey string `json:"previousHmacKey,omitempty"`
}

// ParseSecret reads the secret's JSON. Its errors never quote the secret.
func ParseSecret(s string) (Secret, error) {
	var sec Secret
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sec); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return Secret{}, fmt.Errorf("webhook secret: %s is not a string", ute.Field)
		}
		return Secret{}, errors.New(`webhook secret: not a JSON object {"username", "password", "hmacKey", "previousHmacKey"}`)
	}
	return sec, nil
}

// keys decodes the HMAC keys; an empty previous key is left out.
func (s Secret) keys() ([]adyen.Key, error) {
	cur, err := adyen.ParseKey(s.HMACKey)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: hmacKey: %w", err)
	}
	keys := []adyen.Key{cur}
	if s.PreviousHMACKey != "" {
		prev, err := adyen.ParseKey(s.PreviousHMACKey)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: previousHmacKey: %w", err)
		}
		keys = append(keys, prev)
	}
	return keys, nil
}
