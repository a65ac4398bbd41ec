package webhook

import (
	"errors"
	"strings"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
)

// Config is the receiver function's configuration.
type Config struct {
	SecretID string   // WEBHOOK_SECRET_ARN: the Secret in Secrets Manager
	QueueURL string   // WEBHOOK_QUEUE_URL: where report requests go
	Pattern  string   // REPORT_FILE_PATTERN: the reports to download (default adyen.DefaultReportPattern)
	Hosts    []string // REPORT_HOSTS: the hosts reports may come from (default fetch.DefaultHosts)
}

// LoadConfig reads the configuration from getenv. SecretID and QueueURL are required by the function
// (checked by its constructor); the others have defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID: strings.TrimSpace(getenv("WEBHOOK_SECRET_ARN")),
		QueueURL: strings.TrimSpace(getenv("WEBHOOK_QUEUE_URL")),
		Pattern:  strings.TrimSpace(getenv("REPORT_FILE_PATTERN")),
	}
	if c.Pattern == "" {
		c.Pattern = adyen.DefaultReportPattern
	}
	if err := adyen.CheckPattern(c.Pattern); err != nil {
		return Config{}, errors.New("REPORT_FILE_PATTERN: " + err.Error())
	}
	hosts, err := fetch.ParseHosts(getenv("REPORT_HOSTS"))
	if err != nil {
		return Config{}, err
	}
	c.Hosts = hosts
	return c, nil
}
