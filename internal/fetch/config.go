package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Config is the fetch function's configuration (the raw bucket and MAX_FILE_BYTES are the pipeline's,
// read by workflow.LoadConfig).
type Config struct {
	Hosts    []string // REPORT_HOSTS: the hosts reports may come from (default DefaultHosts)
	SecretID string   // REPORT_USER_SECRET_ARN: the report user's credentials in Secrets Manager
	DLQURL   string   // FETCH_DLQ_URL: the fetch dead-letter queue
	Attempts int      // FETCH_ATTEMPTS: attempts per delivery (default DefaultAttempts)
}

// LoadConfig reads the configuration from getenv. SecretID and DLQURL are required by the function
// (checked by its constructor).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID: strings.TrimSpace(getenv("REPORT_USER_SECRET_ARN")),
		DLQURL:   strings.TrimSpace(getenv("FETCH_DLQ_URL")),
		Attempts: DefaultAttempts,
	}
	hosts, err := ParseHosts(getenv("REPORT_HOSTS"))
	if err != nil {
		return Config{}, err
	}
	c.Hosts = hosts
	if v := strings.TrimSpace(getenv("FETCH_ATTEMPTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			return Config{}, fmt.Errorf("FETCH_ATTEMPTS=%q: want a whole number from 1 to 10", v)
		}
		c.Attempts = n
	}
	return c, nil
}

// ParseCredentials reads the report user's secret, a JSON object {"username", "password"}. Its errors
// never quote the secret.
func ParseCredentials(s string) (username, password string, err error) {
	var c struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if dec.Decode(&c) != nil {
		return "", "", errors.New(`report user secret: not a JSON object {"username", "password"}`)
	}
	return c.Username, c.Password, nil
}
